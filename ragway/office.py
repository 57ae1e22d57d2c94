"""Legacy Office files (.doc, .ppt, .xls) converted to their OOXML successors by LibreOffice
headless, when `soffice` is installed; unstructured then reads the result like any DOCX/PPTX/XLSX.

Each conversion runs with a profile folder of its own (two soffice processes sharing one profile
block each other) and a time limit."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ragway.errors import DocumentError

SUCCESSORS = {"DOC": "docx", "PPT": "pptx", "XLS": "xlsx"}


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(filename: str, file_type: str, data: bytes, timeout_s: float) -> tuple[str, bytes]:
    """(the new type, the converted bytes) of a legacy Office file."""
    program = soffice()
    if program is None:
        raise DocumentError(filename, f"{file_type}: legacy Office files need LibreOffice (soffice), which is not "
                                      "installed; save the file as DOCX/PPTX/XLSX")
    target = SUCCESSORS[file_type]
    with tempfile.TemporaryDirectory(prefix="ragway-office-") as tmp:
        folder = Path(tmp)
        source = folder / f"in.{file_type.lower()}"
        source.write_bytes(data)
        argv = [program, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless", "--norestore",
                "--nolockcheck", "--convert-to", target, "--outdir", str(folder), str(source)]
        output = _run(argv, timeout_s, filename, file_type)
        converted = folder / f"in.{target}"
        if not converted.exists():
            detail = output.strip().splitlines()
            raise DocumentError(filename, f"{file_type}: LibreOffice could not convert it "
                                          f"({detail[-1][:200] if detail else 'no output'})")
        return target.upper(), converted.read_bytes()


def _run(argv: list[str], timeout_s: float, filename: str, file_type: str) -> str:
    """Its output; on time-out the whole process group goes (`soffice` is a script that starts
    `soffice.bin`, which killing the script alone would leave running)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise DocumentError(filename, f"{file_type}: LibreOffice took longer than {timeout_s:.0f} s") from exc
    return out.decode(errors="replace")
