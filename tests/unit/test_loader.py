"""The loader on real files through unstructured (offline), including the ways files go wrong."""

import io

import pytest

from ragway import loader
from ragway.errors import DocumentError
from tests import documents as docs


def test_pdf_keeps_page_numbers():
    sections = loader.load("report.pdf", docs.pdf_bytes(docs.PDF_FACT, docs.PDF_PAGE2_FACT))
    by_page = {s.page: s.text for s in sections}
    assert "spectrometer" in by_page[1]
    assert "Tromso" in by_page[2]


def test_docx_and_markdown_keep_text_and_titles():
    [docx_section] = loader.load("on.docx", docs.docx_bytes("Onboarding", docs.DOCX_FACT))
    assert "facilities desk" in docx_section.text
    md = loader.load("k.md", f"# Kestrel cache\n\n{docs.MD_FACT}\n".encode())
    assert any("least recently used" in s.text for s in md)


def test_headings_open_sections_and_tables_keep_their_rows():
    md = (b"# Travel policy\n\nExpenses are filed within 30 days.\n\n## Hotels\n\n"
          b"Hotel rooms up to 150 EUR a night.\n\nBook through the portal.\n")
    assert [(s.title, s.text) for s in loader.load("p.md", md)] == [
        ("Travel policy", "Travel policy\n\nExpenses are filed within 30 days."),
        ("Hotels", "Hotels\n\nHotel rooms up to 150 EUR a night.\n\nBook through the portal.")]
    html = (b"<html><body><h1>Prices</h1><table><tr><th>Item</th><th>Price</th></tr><tr><td>Tea</td>"
            b"<td>2 EUR</td></tr><tr><td>Coffee</td><td>3 EUR</td></tr></table>"
            b"<p>Prices include tax.</p></body></html>")
    table, after = loader.load("t.html", html)
    assert (table.kind, table.title) == ("table", "Prices")
    assert table.text == "Item | Price\nItem: Tea | Price: 2 EUR\nItem: Coffee | Price: 3 EUR"
    assert (after.kind, after.text) == ("text", "Prices include tax.")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "big5", "utf-16-le", "utf-32"])
def test_chinese_text_in_any_common_encoding(encoding):
    text = "臺北和北京都是大城市。長城很有名，遊客很多。" if encoding == "big5" else docs.ZH_FACT
    [section] = loader.load("zh.txt", text.encode(encoding))
    assert section.text == text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_latin_text_in_utf16_without_a_byte_order_mark_has_no_nuls(encoding):
    text = "This is a test document to use for unit tests. It reads as one paragraph."
    [section] = loader.load("plain.txt", text.encode(encoding))
    assert section.text == text


def test_western_code_page_text_is_decoded():
    text = "Café au lait, naïve façade, crème brûlée for everyone at the offsite."
    [section] = loader.load("menu.txt", text.encode("cp1252"))
    assert section.text == text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n ", "empty"),
        ("broken.pdf", b"%PDF-1.7\n garbage", "corrupt"),
        ("blob.bin", bytes(range(256)) * 8, "unsupported file type"),
        ("report.docx", b"Quarterly report\n\nSales rose in the north by twelve percent.\n", "corrupt"),
        ("sheet.xlsx", b"region,units\nNorth,1200\n", "corrupt"),
        ("scan.pdf", b"This is not a PDF at all, only a line of text.\n", "corrupt"),
        ("half.docx", b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "corrupt or truncated"),  # cut-off ZIP
        ("half.xlsx", b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "corrupt or truncated"),
    ],
)
def test_bad_files_fail_with_a_reason_naming_the_file(name, data, reason):
    with pytest.raises(DocumentError) as err:
        loader.load(name, data)
    assert err.value.filename == name
    assert reason in err.value.message
    assert err.value.message.startswith(name) and "object at 0x" not in err.value.message
    assert "archive.zip" not in err.value.message  # the file's own name, never a made-up one
    if name.startswith("half."):
        assert f"{name}: {name[5:].upper()}: the file is corrupt or truncated" in err.value.message


def test_encrypted_pdf_is_reported_as_encrypted():
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(docs.pdf_bytes("secret text"))))
    writer.encrypt(user_password="s3cret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentError, match="encrypted"):
        loader.load("secret.pdf", out.getvalue())


def test_images_without_text_or_without_ocr_fail_with_an_actionable_reason(monkeypatch):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, format="PNG")
    with pytest.raises(DocumentError, match="no legible text"):
        loader.load("blank.png", out.getvalue())
    monkeypatch.setattr(loader.ocr, "ocr_enabled", lambda settings: False)
    with pytest.raises(DocumentError, match="images need OCR, which is off"):
        loader.load("scan.png", out.getvalue())


def test_a_zip_archive_named_otherwise_is_read_member_by_member():
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes/policy.md", "# Travel\n\nExpenses are filed within 30 days.\n")
        archive.writestr("cups.csv", "Team,Cups\nBlues,1\n")
        archive.writestr("noise.bin", bytes(range(256)) * 4)
    sections = loader.load("bundle.txt", out.getvalue())
    assert [s.text for s in sections] == ["Travel\n\nExpenses are filed within 30 days.",
                                          "Team | Cups\nTeam: Blues | Cups: 1"]


def test_text_files_read_as_unstructured_partitions_them_without_classifying_every_paragraph():
    text = ("INTRODUCTION\n\nSome body text here. It has two sentences.\n\n• one\n• two\n\n* three item\n\n"
            "1. First step\n2. Second\n\n•\n\nChapter 1\nThe Beginning\n\nJohn Smith\n123 Main St\n"
            "Springfield, IL 62701\n\nfoo@example.com\n\nBoston, MA 02110\n\n中文标题\n\n这是一个句子。这是另一个。\n\n"
            "Title Line\nline two of text wrapped\nline three of text.\n\n\n\nANOTHER HEADING\n\n- dash bullet\n"
            "- second\n\nResults and Discussion\n\n" + "The depot counted pallets before noon. " * 30)
    fast = loader.load("notes.txt", text.encode())
    assert fast == loader._partition("notes.txt", "TXT", text.encode(), "utf-8")  # unstructured's own reading
    assert fast[0].title == "INTRODUCTION" and len({s.title for s in fast}) > 3
    assert any(s.title == "Results and Discussion" and "depot counted" in s.text for s in fast)
