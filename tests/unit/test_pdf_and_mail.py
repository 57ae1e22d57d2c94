"""PDF text layers (ragway/pdf.py) and e-mail (ragway/mail.py), on generated files and, where the
shared data is present, on the real files that failed before (issue 18)."""

import io

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from ragway import loader, pdf
from tests.data import require


def outlined_pdf() -> bytes:
    doc = FPDF()
    doc.set_font("Helvetica", size=12)
    for chapter, body in [("Travel", "Economy class is booked for every flight under six hours. " * 6),
                          ("Expenses", "Receipts are filed within thirty days of the trip. " * 6)]:
        doc.add_page()
        doc.start_section(chapter)
        doc.multi_cell(0, 8, body)
    return bytes(doc.output())


def test_pages_become_sections_titled_by_the_outline_with_wrapped_lines_joined():
    sections = loader.load("policy.pdf", outlined_pdf())
    assert [(s.page, s.title) for s in sections] == [(1, "Travel"), (2, "Expenses")]
    assert "\n" not in sections[0].text and "six hours. Economy class" in sections[0].text


def test_paragraphs_join_wraps_and_keep_breaks():
    text = ("The travel policy applies to every employee who books a flight or a\r\n"
            "hotel through the company portal, and to contractors whose agree-\r\n"
            "ment says so. Receipts are kept for seven years by the finance team.\r\n"
            "Short line.\r\n\r\n"
            "Approval comes from the manager of the cost centre, in writing, before\r\n"
            "any booking is made.")
    assert pdf.paragraphs(text) == (
        "The travel policy applies to every employee who books a flight or a hotel through the company portal, "
        "and to contractors whose agreement says so. Receipts are kept for seven years by the finance team. "
        "Short line.\n\nApproval comes from the manager of the cost centre, in writing, before any booking is "
        "made.")
    assert pdf.paragraphs("员工的年假共十五天，应当提前两周\r\n向主管提交申请，经批准后方可休假\r\n。") == (
        "员工的年假共十五天，应当提前两周向主管提交申请，经批准后方可休假。")


def test_a_pdf_that_opens_with_the_empty_password_is_read():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(outlined_pdf())))
    writer.encrypt(user_password="", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    assert "Receipts are filed" in loader.load("owner-locked.pdf", out.getvalue())[1].text


def test_a_pdf_without_a_text_layer_says_so():
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(out, format="PDF")
    with pytest.raises(Exception, match="no text could be extracted"):
        loader.load("scan.pdf", out.getvalue())


@pytest.mark.parametrize(("relative", "pages", "phrase"), [
    ("docs/pdf-sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf", 117, "Vorwort"),
    ("docs/unstructured/pdf/failure-after-repair.pdf", 76, "Understanding Breast Cancer"),
])
def test_real_pdfs_unstructured_could_not_read(relative, pages, phrase):
    sections = loader.load(relative.rsplit("/", 1)[-1], require(relative).read_bytes())
    assert len({s.page for s in sections}) >= pages - 2
    assert any(phrase in s.text for s in sections)


MAIL = b"""From: Ana Lima <ana@example.com>
To: team@example.com
Subject: =?utf-8?b?5bm05YGH5pS/562W?= and the Heron move
Date: Mon, 2 Mar 2026 09:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><body><p>The Heron team moves to floor <b>7</b> on Friday.</p></body></html>
"""


def test_a_mail_is_read_with_its_headers_and_its_html_body():
    [section] = loader.load("move.eml", MAIL)
    assert section.title == "年假政策 and the Heron move"
    assert section.text.startswith("Subject: 年假政策 and the Heron move\nFrom: Ana Lima <ana@example.com>")
    assert "moves to floor 7 on Friday" in section.text and "<b>" not in section.text


def test_ragged_csv_and_html_named_txt_fall_back_to_their_text():
    ragged = b"name,city\nAna,Lisbon\nBo,Oslo,extra,fields\n\"unclosed,quote\n"
    text = " ".join(s.text for s in loader.load("people.csv", ragged))
    assert "Lisbon" in text and "Oslo" in text
    xhtml = (b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
             b'xmlns:ix="http://www.xbrl.org/2013/inlineXBRL"><head><title>10-K</title><style>p{}</style></head>'
             b"<body><p>Offices close at <ix:nonFraction>6</ix:nonFraction> pm.</p><p>Bring a badge.</p></body></html>")
    text = " ".join(s.text for s in loader.load("actually-html.txt", xhtml))
    assert "Offices close at 6 pm." in text and "<p>" not in text and "p{}" not in text


def test_a_page_with_a_short_text_layer_keeps_it_when_ocr_reads_less():
    doc = FPDF()
    doc.set_font("Helvetica", size=12)
    doc.add_page()
    doc.cell(0, 8, "Form 7")
    sections = pdf.sections("form.pdf", bytes(doc.output()), ocr=lambda data, pages: dict.fromkeys(pages, ""))
    assert [s.text for s in sections] == ["Form 7"]
