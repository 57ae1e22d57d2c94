"""Real documents built by the tests: PDF, DOCX, Markdown and text (one Chinese), plus broken ones."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
from fpdf import FPDF

PDF_FACT = "The Zephyr satellite carries a spectrometer that measures ozone over the Arctic."
PDF_PAGE2_FACT = "Page two: the Orion ground station in Tromso downloads Zephyr data every ninety minutes."
DOCX_FACT = "New employees receive their laptop and badge from the facilities desk on the first morning."
MD_FACT = "The Kestrel cache evicts entries with a least recently used policy after twelve hours."
TXT_FACT = "Plain text note: the rooftop beehives produced forty kilograms of honey this summer."
ZH_FACT = "长城是中国古代的军事防御工程，全长超过两万公里。游客最常去的是八达岭长城。"


def pdf_bytes(*pages: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_bytes(title: str, *paragraphs: str) -> bytes:
    document = docx.Document()
    document.add_heading(title, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def zeros_zip(members: int, size: int) -> bytes:
    """A decompression bomb: `members` files of `size` zero bytes, deflated to almost nothing."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(members):
            archive.writestr(f"zeros-{i:02d}.txt", b"\0" * size)
    return out.getvalue()


def write_corpus(folder: Path) -> dict[str, Path]:
    """The mixed corpus of issue 2: four good files of four formats and two bad ones."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "satellite-report.pdf": pdf_bytes("Zephyr mission report. " + PDF_FACT, PDF_PAGE2_FACT),
        "onboarding.docx": docx_bytes("Onboarding", DOCX_FACT, "Security training follows in week one."),
        "kestrel.md": f"# Kestrel cache\n\n## Eviction\n\n{MD_FACT}\n\n## Sizing\n\nEach node holds 4 GB.\n".encode(),
        "长城介绍.txt": ZH_FACT.encode("utf-8"),
        "corrupt.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref or trailer",
        "archive.bin": bytes(range(256)) * 64,
    }
    paths = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths
