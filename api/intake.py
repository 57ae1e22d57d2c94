"""Turning a bulk request into job files: uploads (archives expanded) or a server-side folder.

Uploaded files and archive members are streamed to the blob store one at a time, never held in
memory, within a budget per file and per request (files, and bytes once archives are expanded).
Refused files (too large, a corrupt archive, a link, a bad name, a decompression bomb) become
failed files of the job with their reason, so one bad file never rejects the whole request."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import IO

from fastapi import UploadFile

from ragway import sources
from ragway.blobs import BlobStore, CountingReader, TooLarge
from ragway.errors import InvalidRequest, NotFound, PayloadTooLarge
from ragway.jobs import FileState, FileStatus
from ragway.settings import Settings

RATIO_FLOOR_BYTES = 8 * 1024 * 1024  # below this, no expansion ratio is suspicious


def _mib(n: int) -> int:
    return n // (1024 * 1024)


def _failed(name: str, size: int, reason: str) -> FileState:
    return FileState(file_id=uuid.uuid4().hex, name=name, size=size, status=FileStatus.failed,
                     error=f"{name}: {reason}")


class Unreadable(Exception):
    """An archive member whose bytes cannot be read (corrupt data, a bad checksum)."""


class MemberReader(CountingReader):
    """A member's bytes counted against the budget; read errors of the archive told apart from
    errors of the blob store it is copied to."""

    def read(self, size: int = -1) -> bytes:
        try:
            return super().read(size)
        except sources.READ_ERRORS as exc:
            raise Unreadable(str(exc)) from exc


class UploadIntake:
    """One upload request going into one job."""

    def __init__(self, job_id: str, blobs: BlobStore, s: Settings):
        self.job_id = job_id
        self.blobs = blobs
        self.s = s
        self.files: list[FileState] = []
        self.names: set[str] = set()
        self.bytes_left = s.max_upload_expanded_bytes
        self.files_left = s.max_upload_expanded_files

    def add(self, upload: UploadFile) -> None:
        name = (upload.filename or "").replace("\\", "/").strip().lstrip("/")
        if not name:
            raise InvalidRequest("every uploaded file needs a file name")
        upload.file.seek(0, 2)
        size = upload.file.tell()
        upload.file.seek(0)
        if sources.is_archive(name) and not sources.check_name(name):
            self._expand(name, upload.file, size)
        else:
            self._store(name, size, lambda: nullcontext(upload.file))  # the request's stream: not closed here

    def stored_file_ids(self) -> list[str]:
        return [f.file_id for f in self.files if f.status == FileStatus.queued]

    def _refuse(self, name: str, size: int, reason: str) -> None:
        self.files.append(_failed(name, size, reason))
        self.names.add(name)

    def _refusal(self, name: str, size: int) -> str | None:
        if reason := sources.check_name(name):
            return reason
        if name in self.names:
            return "another file of this upload has the same name (names identify documents)"
        if self.files_left <= 0:
            return (f"more than {self.s.max_upload_expanded_files} files in this upload once archives are "
                    "expanded; send the rest in another request")
        if size > self.s.max_file_bytes:
            return f"larger than the {_mib(self.s.max_file_bytes)} MiB limit per file"
        if size > self.bytes_left:
            return (f"this upload's files exceed {_mib(self.s.max_upload_expanded_bytes)} MiB once archives are "
                    "expanded; send the rest in another request")
        return None

    def _store(self, name: str, size: int, open_stream: Callable[[], IO[bytes]]) -> None:
        if reason := self._refusal(name, size):
            self._refuse(name, size, reason)
            return
        file_id = uuid.uuid4().hex
        limit = min(self.s.max_file_bytes, self.bytes_left)
        try:
            with open_stream() as stream:
                stored = self.blobs.put_stream(self.job_id, file_id, MemberReader(stream, limit))
        except TooLarge:
            self._refuse(name, size, f"larger than it claims, past the {_mib(limit)} MiB left for it")
            return
        except Unreadable as exc:
            self._refuse(name, size, f"cannot be read from its archive ({exc})")
            return
        self.bytes_left -= stored
        self.files_left -= 1
        self.files.append(FileState(file_id=file_id, name=name, size=stored))
        self.names.add(name)

    def _expand(self, name: str, archive: IO[bytes], size: int) -> None:
        before = len(self.files)
        expanded = 0
        try:
            for member in sources.expand_archive(name, archive, self.s.max_archive_members):
                if member.open is None:
                    self._refuse(member.name, 0, (member.error or "").removeprefix(f"{member.name}: "))
                elif bomb := self._bomb(member, expanded + member.size, size):
                    self._refuse(member.name, member.size, bomb)
                else:
                    self._store(member.name, member.size, member.open)
                    expanded += member.size
        except sources.ArchiveError as exc:
            self._refuse(name, size, str(exc).removeprefix(f"{name}: "))
        if len(self.files) == before:
            self._refuse(name, size, "the archive holds no files")

    def _bomb(self, member: sources.Member, archive_expanded: int, archive_size: int) -> str | None:
        ratio = self.s.max_compression_ratio
        if member.size > RATIO_FLOOR_BYTES and member.packed is not None and member.size > ratio * member.packed:
            return (f"expands {member.size // max(member.packed, 1)}-fold, more than the {ratio}-fold limit "
                    "(a decompression bomb?)")
        if archive_expanded > max(RATIO_FLOOR_BYTES, ratio * archive_size):
            return (f"its archive would expand more than {ratio}-fold ({_mib(archive_expanded)} MiB from "
                    f"{_mib(archive_size)} MiB; a decompression bomb?)")
        return None


def receive_uploads(uploads: list[UploadFile], job_id: str, blobs: BlobStore, s: Settings) -> list[FileState]:
    """Store the uploads' files for the job; if storing fails half way, nothing of them stays."""
    if len(uploads) > s.max_files_per_upload:
        raise PayloadTooLarge(f"{len(uploads)} files in one request; the limit is {s.max_files_per_upload}: "
                              "send them in several requests to one job (see `ragway ingest`)")
    intake = UploadIntake(job_id, blobs, s)
    try:
        for upload in uploads:
            intake.add(upload)
    except BaseException:
        for file_id in intake.stored_file_ids():
            blobs.delete(job_id, file_id)
        raise
    return intake.files


def from_server_folder(path: str, include: list[str], exclude: list[str], s: Settings) -> list[FileState]:
    folder = Path(path).resolve()
    roots = [r.resolve() for r in s.allowed_source_roots]
    if not any(folder.is_relative_to(r) for r in roots):
        raise InvalidRequest(f"{path} is not under an allowed source root; the operator allows: "
                             f"{', '.join(map(str, roots))} (RAGWAY_SOURCE_ROOTS adds more)")
    if not folder.is_dir():
        raise NotFound(f"{path} is not a folder the server can read")
    files = []
    for file_path, name in sources.walk(folder, include, exclude):
        size = file_path.stat().st_size
        if reason := sources.check_name(name):
            files.append(_failed(name, size, reason))
        elif size > s.max_file_bytes:
            files.append(_failed(name, size, f"larger than the {_mib(s.max_file_bytes)} MiB limit"))
        else:
            files.append(FileState(file_id=uuid.uuid4().hex, name=name, size=size, path=str(file_path)))
    if not files:
        raise InvalidRequest(f"no files under {path} match the include/exclude patterns")
    return files
