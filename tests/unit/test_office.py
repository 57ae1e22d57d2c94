"""Legacy Office files through LibreOffice headless (ragway/office.py), where soffice is installed
(`deploy/local/install-system-tools.sh` installs it for the test command where it can)."""

import subprocess

import pytest
from docx import Document

from ragway import loader, office
from ragway.errors import DocumentError


@pytest.fixture(scope="module")
def legacy_doc(tmp_path_factory) -> bytes:
    """A .doc made from a DOCX by LibreOffice itself (no other tool writes the old binary format)."""
    if office.soffice() is None:
        pytest.skip("LibreOffice (soffice) is not installed: run deploy/local/install-system-tools.sh as root")
    folder = tmp_path_factory.mktemp("doc")
    document = Document()
    document.add_heading("Leave policy", level=1)
    document.add_paragraph("Employees take twenty-five days of annual leave. 年假共二十五天。")
    document.save(folder / "policy.docx")
    subprocess.run([office.soffice(), f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless",
                    "--convert-to", "doc", "--outdir", str(folder), str(folder / "policy.docx")],
                   check=True, capture_output=True, timeout=180)
    return (folder / "policy.doc").read_bytes()


def test_a_legacy_doc_is_converted_and_read(legacy_doc):
    assert loader.detect_type("policy.doc", legacy_doc) == "DOC"
    text = " ".join(s.text for s in loader.load("policy.doc", legacy_doc))
    assert "twenty-five days of annual leave" in text and "年假共二十五天" in text


def test_without_libreoffice_the_file_fails_with_what_is_missing(monkeypatch):
    monkeypatch.setattr(office, "soffice", lambda: None)
    with pytest.raises(DocumentError, match="need LibreOffice"):
        office.convert("old.doc", "DOC", b"\xd0\xcf\x11\xe0", timeout_s=10)


def test_a_conversion_past_its_time_limit_fails_with_the_limit(legacy_doc):
    with pytest.raises(DocumentError, match="policy.doc: DOC: LibreOffice took longer than"):
        office.convert("policy.doc", "DOC", legacy_doc, timeout_s=0.05)
