"""The development QA set (tests/data/devqa.jsonl) itself: its shape, and every evidence string found
in its file at its locator by an extractor other than Ragway's parser (pypdf, python-docx, openpyxl,
python-pptx, BeautifulSoup, the email package), so the set does not grade Ragway by its own reading."""

from __future__ import annotations

import email
import re
from collections import Counter
from email import policy
from functools import lru_cache
from pathlib import Path

import pytest

from ragway.apps.evaluation import QaItem, load_qa, normalize_evidence
from tests.data import PROJECT_ROOT, require

DEVQA = PROJECT_ROOT / "tests" / "data" / "devqa.jsonl"
ITEMS = load_qa(DEVQA)


def test_the_set_has_what_issue_15_asks_for():
    answerable = [i for i in ITEMS if i.answerable]
    subsets = Counter(s for i in answerable for s in i.subsets)
    assert len(ITEMS) >= 80 and len(ITEMS) - len(answerable) >= 15
    assert len({i.id for i in ITEMS}) == len(ITEMS)
    assert Counter(i.lang for i in answerable)["zh"] >= 15
    assert all(subsets[s] >= 8 for s in ("table", "deep-page", "paraphrase", "names-document")), subsets
    assert len({i.format for i in answerable}) >= 8
    splits = Counter(i.split for i in ITEMS)
    assert set(splits) == {"tune", "report"} and abs(splits["tune"] - splits["report"]) <= len(ITEMS) // 10
    assert len(load_qa(DEVQA, "tune")) == splits["tune"]


def test_evidence_matching_ignores_spacing_markup_and_ligatures():
    item = QaItem(
        id="x",
        question="?",
        file="a.pdf",
        evidence=("Stage IIB", "2–5 cm diameter"),
        lang="en",
        format="pdf",
        subsets=(),
        split="tune",
        also_files=("b.csv",),
    )
    assert normalize_evidence("Speciﬁcally,  **TABLE FORMER**\n| a |") == "specificallytableformera"
    assert item.holds("a.pdf", "| Stage | IIB |\nThe tumour is 2 – 5 cm\n diameter")
    assert item.holds("b.csv", "stage iib: 2-5 cm diameter")
    assert not item.holds("c.pdf", "Stage IIB 2–5 cm diameter")  # another file
    assert not item.holds("a.pdf", "Stage IIB only")  # every evidence string in one chunk


# --- independent extraction ----------------------------------------------------------------------
def _pdf(path: Path, locator: str) -> str:
    import pypdf

    page = int(re.fullmatch(r"page (\d+)", locator).group(1))
    return pypdf.PdfReader(str(path)).pages[page - 1].extract_text()


def _docx(path: Path, locator: str) -> str:
    import docx

    document = docx.Document(str(path))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def _xlsx(path: Path, locator: str) -> str:
    import openpyxl

    book = openpyxl.load_workbook(str(path), data_only=True, read_only=True)
    name = locator.removeprefix("sheet ")
    return "\n".join(" ".join(str(v) for v in row if v is not None) for row in book[name].iter_rows(values_only=True))


def _pptx(path: Path, locator: str) -> str:
    import pptx

    slide = pptx.Presentation(str(path)).slides[int(locator.removeprefix("slide ")) - 1]
    texts = []
    for shape in slide.shapes:
        if shape.has_text_frame:
            texts.append(shape.text_frame.text)
        if getattr(shape, "has_table", False):
            texts.extend(c.text for row in shape.table.rows for c in row.cells)
    return "\n".join(texts)


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    return BeautifulSoup(data, "html.parser").get_text(" ")


def _text(path: Path, locator: str) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _eml(path: Path, locator: str) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(preferencelist=("plain", "html"))
    content = body.get_content() if body is not None else ""
    return f"{message['subject']}\n{message['from']}\n{content}"


EXTRACT = {
    "pdf": _pdf,
    "docx": _docx,
    "xlsx": _xlsx,
    "pptx": _pptx,
    "md": _text,
    "txt": _text,
    "csv": _text,
    "eml": _eml,
    "html": lambda path, locator: _html(path.read_bytes()),
}


@lru_cache(maxsize=64)
def _extracted(file: str, locator: str) -> str:
    path = require(f"docs/{file}")
    return normalize_evidence(EXTRACT[file.rsplit(".", 1)[-1]](path, locator))


@pytest.mark.parametrize("item", [i for i in ITEMS if i.answerable], ids=lambda i: i.id)
def test_evidence_is_in_the_file_at_its_locator(item):
    pytest.importorskip("pypdf")
    pytest.importorskip("docx")
    pytest.importorskip("openpyxl")
    pytest.importorskip("pptx")
    pytest.importorskip("bs4")
    text = _extracted(item.file, item.locator)
    missing = [e for e in item.evidence if normalize_evidence(e) not in text]
    assert not missing, f"{item.id}: {missing} not in {item.file} ({item.locator})"
    for other in item.also_files:
        text = _extracted(other, "")
        assert all(normalize_evidence(e) in text for e in item.evidence), f"{item.id}: not in {other}"
