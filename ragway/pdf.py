"""PDF text, page by page, from the text layer with pypdfium2 (PDFium, Chrome's PDF engine).

Measured here: pypdfium2 read all 619 pages of a 619-page PDF in 1.4 s, where pdfminer (what
unstructured's fast strategy runs) read 100 pages in 11.3 s; and unstructured gives up on pages
with many drawing operations ("too complex") where PDFium reads their text. Section titles come
from the PDF's outline (its bookmarks), the only headings a text layer states for sure. Pages
without a text layer are handed to OCR when the caller gives one."""

from __future__ import annotations

import re
from collections.abc import Callable
from statistics import median

from ragway import tables
from ragway.errors import DocumentError
from ragway.lexical import CJK_TEXT_CHAR
from ragway.records import Section

MIN_PAGE_CHARS = 20  # a page with fewer characters of text layer is treated as an image
SHORT_LINE = 0.7  # a line shorter than this share of the page's usual line ends its paragraph

OcrPages = Callable[[bytes, list[int]], dict[int, str]]


def _open(filename: str, data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)  # an empty user password is tried, as readers do
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentError(filename, "PDF: the file is encrypted or password-protected") from exc
        raise DocumentError(filename, f"PDF: the file is corrupt or truncated ({exc})") from exc


def _page_text(pdf, index: int) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()


def _outline_titles(pdf, pages: int) -> list[str]:
    """The outline entry each page sits under ("" before the first one)."""
    starts: dict[int, str] = {}
    try:
        for item in pdf.get_toc(max_depth=3):
            dest, title = item.get_dest(), " ".join((item.get_title() or "").split())
            index = dest.get_index() if dest is not None else None
            if index is not None and 0 <= index < pages and title:
                starts.setdefault(index, title)
    except Exception:  # a broken outline is not a reason to lose the text
        return [""] * pages
    titles, current = [], ""
    for index in range(pages):
        current = starts.get(index, current)
        titles.append(current)
    return titles


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def paragraphs(text: str, usual: float | None = None) -> str:
    """A page's lines joined into paragraphs: a line wraps into the next unless it is short (the
    end of a paragraph; shorter than the page's `usual` line) or blank; a hyphen at a wrap is dropped;
    CJK lines join without a space."""
    lines = _lines(text)
    lengths = [len(line) for line in lines if line]
    if not lengths:
        return ""
    usual = usual or median(lengths)
    out: list[str] = []
    current = ""
    for line in lines:
        if not line:
            out.append(current)
            current = ""
            continue
        current = _join(current, line)
        if len(line) < SHORT_LINE * usual:
            out.append(current)
            current = ""
    out.append(current)
    return "\n\n".join(p for p in out if p)


def _join(current: str, line: str) -> str:
    if not current:
        return line
    if current.endswith("-") and line[:1].islower():
        return current[:-1] + line
    if CJK_TEXT_CHAR.fullmatch(current[-1]) or CJK_TEXT_CHAR.fullmatch(line[0]):
        return current + line
    return f"{current} {line}"


# A table's cell in a text layer: a figure ("57.6", "(1,204)", "-3%", "$12") or an empty cell's dash.
_FIGURE = re.compile(r"[(\[]?[-+−]?[$€£¥]?\d[\d,.]*%?[)\]]?\*?")
_DASHES = {"-", "–", "—", "n/a", "N/A"}
MIN_TABLE_ROWS = 2
MAX_TABLE_HEADER_CHARS = 100


def _figures(line: str) -> int:
    """How many cells of a table row the line holds after its label (figures and dashes), or 0 when it
    reads as anything but a row of figures: at least one figure, and cells at least half its words."""
    words = line.split()
    cells = [w for w in words[1:] if w in _DASHES or _FIGURE.fullmatch(w)]
    figures = sum(1 for w in cells if w not in _DASHES)
    return len(cells) if len(words) >= 3 and figures and len(cells) >= 2 and len(cells) * 2 >= len(words) else 0


def _is_table_header(line: str) -> bool:
    return (len(line.split()) >= 2 and len(line) <= MAX_TABLE_HEADER_CHARS and not _figures(line)
            and not line.endswith((".", "!", "?", ":", ";", ",", "。")) and not tables.is_caption(line))


def _caption(lines: list[str], usual: float) -> str:
    """The caption paragraph that starts `lines` ("Table 5: ALL questions' cell selection accuracy ..."),
    up to its first sentence's end, within a label's length; "" when the lines start no caption."""
    if not lines or not tables.is_caption(lines[0]):
        return ""
    first = paragraphs("\n".join(lines[:8]), usual).split("\n\n", 1)[0]
    sentence = re.match(r".+?[.。](?=\s|$)", first)
    return (sentence.group(0) if sentence else first)[: tables.MAX_LABEL_CHARS]


def page_sections(text: str, page: int, title: str) -> list[Section]:
    """A page's text as sections: its paragraphs, and each table of figures in it (two or more lines of
    a label and figures, under a header line or with a caption right above or below) as a table
    section: a first line naming it (caption and header), then one row per line, so a row is found
    with its table's caption and never joined into a paragraph."""
    lines = _lines(text)
    lengths = [len(line) for line in lines if line]
    if not lengths:
        return []
    usual = median(lengths)
    out: list[Section] = []
    start = i = 0
    while i < len(lines):
        rows = _captioned_rows(lines, i)
        if rows > i:
            out += _text_section(lines[start:i], page, title, usual)
            out.append(Section(text="\n".join(lines[i:rows]), page=page, title=title, kind="table"))
            start = i = rows
            continue
        j = i
        while j < len(lines) and _figures(lines[j]):
            j += 1
        if j - i < MIN_TABLE_ROWS or max(_figures(line) for line in lines[i:j]) < 2:
            i = max(j, i + 1)
            continue
        head = i - 1 if i - 1 >= start and _is_table_header(lines[i - 1]) else i
        above = head - 1 if head - 1 >= start and tables.is_caption(lines[head - 1]) else head
        caption = _caption(lines[above:head], usual) or _caption(lines[j:], usual)
        first = " — ".join(part for part in (caption, lines[head] if head < i else "") if part)
        if first:
            out += _text_section(lines[start:above], page, title, usual)
            out.append(Section(text="\n".join([first, *lines[i:j]]), page=page, title=title, kind="table"))
            start = j
        i = j
    return out + _text_section(lines[start:], page, title, usual)


# "Table 1: Current layout detection models" / "Table 2." : a caption, not prose about a table ("Table 1 shows")
_CAPTION_LINE = re.compile(r"^(table|tab\.)\s*\d+[:.]\s+\S", re.IGNORECASE)
MIN_TEXT_TABLE_ROWS = 3


def _captioned_rows(lines: list[str], i: int) -> int:
    """The end of a table of words under a caption at `i` (rows of names and notes, no figures, which
    `_figures` does not see: "TableBank [18] F F Table region on modern scientific and business
    document"): its header and rows are the lines that follow, each starting in upper case and ending on
    no punctuation, up to the first that does not or that wraps into the next (which then
    starts in lower case, as prose does). `i` when there are fewer than MIN_TEXT_TABLE_ROWS or any holds
    figures (`page_sections` reads those)."""
    if not _CAPTION_LINE.match(lines[i]) or len(lines[i]) > MAX_TABLE_HEADER_CHARS:
        return i
    j = i + 1
    while j < len(lines) and _is_text_row(lines[j]) and not (j + 1 < len(lines) and lines[j + 1][:1].islower()):
        j += 1
    rows = lines[i + 1:j]
    return j if len(rows) >= MIN_TEXT_TABLE_ROWS and not any(_figures(row) >= 2 for row in rows) else i


def _is_text_row(line: str) -> bool:
    return (len(line.split()) >= 2 and len(line) <= MAX_TABLE_HEADER_CHARS and line[:1].isupper()
            and not line.endswith((".", "!", "?", ":", ";", ",", "。")))


def _text_section(lines: list[str], page: int, title: str, usual: float) -> list[Section]:
    body = paragraphs("\n".join(lines), usual)
    return [Section(text=body, page=page, title=title)] if body else []


def sections(filename: str, data: bytes, ocr: OcrPages | None = None) -> list[Section]:
    """The sections of each page with text (from its text layer, or OCR for pages without one): its
    paragraphs, and its tables of figures (`page_sections`)."""
    pdf = _open(filename, data)
    try:
        count = len(pdf)
        texts = [_page_text(pdf, i) for i in range(count)]
        titles = _outline_titles(pdf, count)
    finally:
        pdf.close()
    imaged = [i for i, text in enumerate(texts) if len(text.strip()) < MIN_PAGE_CHARS]
    if imaged and ocr is not None:
        for index, text in ocr(data, imaged).items():
            if len(text.strip()) > len(texts[index].strip()):  # a short text layer beats an empty OCR
                texts[index] = text
    out = [section for i, text in enumerate(texts) for section in page_sections(text, i + 1, titles[i])]
    if not out:
        reason = "its pages hold no text, not even by OCR" if ocr else "its pages are scanned images and OCR is off"
        raise DocumentError(filename, f"PDF: no text could be extracted ({reason})")
    return out
