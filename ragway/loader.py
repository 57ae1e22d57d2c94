"""Parsing uploaded files into page-aware sections with `unstructured`, offline.

Every way a file can fail ends as a `DocumentError` naming the file and the reason, so the
caller records it and the rest of the job goes on."""

from __future__ import annotations

import html
import io
import logging
import os
import re
from typing import NoReturn

from ragway import mail, markup, ocr, office, pdf, tables
from ragway.errors import DocumentError
from ragway.records import Section
from ragway.settings import get_settings

# No telemetry call on import, and no model download for element classification at run time.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger(__name__)
_nlp_ready = False


def _offline_nlp() -> None:
    """unstructured classifies elements (title, narrative, ...) with spaCy's en_core_web_sm and
    downloads it on first use, which fails offline. Use the installed model when there is one,
    else a rule-based pipeline (sentence splitter, no POS tagger): the text is the same, only
    the element categories are coarser."""
    global _nlp_ready
    if _nlp_ready:
        return
    import spacy
    from unstructured.nlp import tokenize

    try:
        nlp = spacy.load(tokenize._SPACY_MODEL_NAME, exclude=tokenize._SPACY_EXCLUDE)
    except OSError:
        nlp = spacy.blank("xx")
        nlp.add_pipe("sentencizer")
        log.info("spaCy model %s not installed; using a rule-based sentence splitter",
                 tokenize._SPACY_MODEL_NAME)
    tokenize._get_nlp = lambda: nlp
    _nlp_ready = True


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, DocumentError):
        return exc.reason
    name = type(exc).__name__
    lowered = (name + " " + text).lower()
    if "password" in lowered or "encrypt" in lowered:
        return "the file is encrypted or password-protected"
    if "decode" in lowered or "codec" in lowered or "encoding" in lowered:
        return f"the text could not be decoded ({text[:200]})"
    if "not a zip" in lowered or "badzipfile" in lowered or "not a valid xlsx" in lowered:
        return "the file is corrupt or truncated (its ZIP container, which Office files are, cannot be read)"
    return f"could not be parsed: {name}: {text[:300]}" if text else f"could not be parsed: {name}"


# Tried in order when a text file is not UTF-8: Chinese (GB18030 covers GBK/GB2312; Big5) before
# Western and Cyrillic code pages. Korean is left out on purpose: short GBK text also decodes as
# EUC-KR and would come out as mojibake.
FALLBACK_ENCODINGS = ["utf_32", "utf_16", "utf_16_le", "utf_16_be", "gb18030", "big5", "shift_jis", "cp1252",
                      "cp1251", "latin_1"]
TEXT_TYPES = {"TXT", "MD", "CSV", "TSV", "HTML", "XML", "RST", "ORG", "JSON", "EML"}
# Formats whose Title elements are headings the author marked (HTML <h1>..<h6>, Markdown #, and
# what unstructured converts to HTML first); elsewhere a Title may be any short line.
MARKED_HEADINGS = {"HTML", "MD", "RST", "ORG", "EPUB", "RTF"}


def decode_text(filename: str, data: bytes) -> str:
    text = _utf16_without_bom(data)
    if text is not None:
        return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=FALLBACK_ENCODINGS).best()
    if best is None:
        raise DocumentError(filename, "the text is neither UTF-8 nor in a known encoding "
                                      f"({', '.join(FALLBACK_ENCODINGS)})")
    log.info("%s decoded as %s", filename, best.encoding)
    return str(best)


def _utf16_without_bom(data: bytes) -> str | None:
    """Latin text in UTF-16 without a byte order mark is valid UTF-8 too, with a NUL after (LE) or
    before (BE) every letter: read as UTF-16 when NULs fill one of the byte positions."""
    if len(data) < 4 or len(data) % 2 or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if max(even, odd) < len(data) // 4 or min(even, odd) > len(data) // 40:
        return None
    try:
        return data.decode("utf-16-be" if even > odd else "utf-16-le")
    except UnicodeDecodeError:
        return None


IMAGE_TYPES = {"JPG", "PNG", "TIFF", "BMP", "HEIC", "GIF", "WEBP"}


def _pdf_ocr(filename: str) -> pdf.OcrPages | None:
    """OCR for the PDF's pages without a text layer, if it is on."""
    if not ocr.ocr_enabled(get_settings()):
        return None

    def read(data: bytes, pages: list[int]) -> dict[int, str]:
        try:
            return ocr.read_pdf_pages(data, pages)
        except ocr.OcrError as exc:
            raise DocumentError(filename, f"PDF: OCR failed: {exc.reason}") from exc

    return read


def _image_sections(filename: str, file_type: str, data: bytes) -> list[Section]:
    if not ocr.ocr_enabled(get_settings()):
        raise DocumentError(filename, f"{file_type}: images need OCR, which is off here (RAGWAY_OCR_ENABLED)")
    try:
        text = ocr.read_image(data).strip()
    except ocr.OcrError as exc:
        raise DocumentError(filename, f"{file_type}: {exc.reason}") from exc
    if not text:
        raise DocumentError(filename, f"{file_type}: OCR found no legible text in the image")
    return [Section(text=text)]


def detect_type(filename: str, data: bytes) -> str:
    """The file type unstructured sees, from the content first and the name second."""
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    try:
        file_type = detect_filetype(file=io.BytesIO(data), metadata_file_path=filename)
    except Exception as exc:  # detection itself can fail on garbage input
        raise DocumentError(filename, f"file type could not be detected: {exc}") from exc
    if file_type == FileType.ZIP:
        return "ZIP"  # read member by member (`_archive_sections`)
    if file_type is None or file_type in (FileType.UNK, FileType.EMPTY) or not file_type.is_partitionable:
        raise DocumentError(filename, f"unsupported file type ({getattr(file_type, 'name', 'unknown')})")
    return file_type.name


# Formats that are never plain text: a file named so whose bytes are text is broken (Word, Excel or
# a PDF reader would refuse it), not a text file.
BINARY_SUFFIXES = {"docx": "DOCX", "xlsx": "XLSX", "pptx": "PPTX", "docm": "DOCX", "xlsm": "XLSX", "pptm": "PPTX",
                   "odt": "ODT", "ods": "ODS", "odp": "ODP", "epub": "EPUB", "doc": "DOC", "xls": "XLS", "ppt": "PPT",
                   "pdf": "PDF", "msg": "MSG"}


def claimed_type(filename: str) -> str | None:
    """The binary format a file's name claims (`report.docx`: DOCX), whatever its bytes are."""
    return BINARY_SUFFIXES.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None


def load(filename: str, data: bytes) -> list[Section]:
    if not data or not data.strip():
        raise DocumentError(filename, "the file is empty")
    file_type = detect_type(filename, data)
    claimed = claimed_type(filename)
    if claimed and file_type in TEXT_TYPES:
        raise DocumentError(filename, f"{claimed}: the file is corrupt: it holds plain text ({file_type}), "
                                      f"not a {claimed} document")
    if file_type == "PDF":
        return pdf.sections(filename, data, ocr=_pdf_ocr(filename))
    if file_type == "EML":
        return mail.sections(filename, data)
    if file_type in IMAGE_TYPES:
        return _image_sections(filename, file_type, data)
    if file_type == "ZIP":  # uploaded archives are expanded by name; this one's name hid it (a zip named .txt)
        return _archive_sections(filename, data)
    if file_type in office.SUCCESSORS:
        file_type, data = office.convert(filename, file_type, data, get_settings().office_convert_timeout_s)
    text = decode_text(filename, data) if file_type in TEXT_TYPES else None
    if file_type == "XML" and "<html" in text[:4096].lower():  # XHTML (inline XBRL filings): read as a page
        return _plain_text(text, "HTML") or _no_text(filename, file_type)
    if file_type == "TXT" and markup.looks_like_markdown(text):  # a README or notes named .txt
        file_type = "MD"
    try:
        if file_type == "TXT":
            sections = _text_sections(text)
        else:
            sections = _partition(filename, file_type, data if text is None else text.encode("utf-8"),
                                  None if text is None else "utf-8")
    except DocumentError:
        if text is None:
            raise
        # A person reads a ragged CSV or HTML named .txt fine: so do we, as plain text.
        sections = _plain_text(text, file_type)
    if not sections and file_type in PICTURE_FOLDERS:
        sections = _picture_sections(filename, file_type, data)
    return sections or _no_text(filename, file_type)


_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_FILE_NAME = re.compile(r"\.(?:html?|xhtml|aspx?|php|pdf|docx?|txt)$", re.IGNORECASE)
TEXT_SUFFIXES = ("txt", "text", "md", "markdown")


def document_title(filename: str, data: bytes, sections: list[Section]) -> str | None:
    """The title a document gives itself, for its chunks' context: an HTML page's <title> (unless it
    is a file name), or the first line of a text or Markdown file when it reads as a heading
    ("Iwan Roberts" above a footballer's infobox). None for other formats: PDF and Office metadata
    titles are mostly empty or a tool's default ("Word Document", "Binder1.pdf"), and a PDF's first
    line is as often a running header as its title."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in ("html", "htm", "xhtml"):
        found = _HTML_TITLE.search(data[:65536])
        title = html.unescape(found.group(1).decode("utf-8", "replace")) if found else ""
        title = " ".join(title.split())
        return title if title and not _FILE_NAME.search(title) and len(title) <= 200 else None
    if suffix in TEXT_SUFFIXES and sections:
        first = next((line for line in sections[0].text.splitlines() if line.strip()), "")
        first = " ".join(first.lstrip("#").split())
        table_or_code = " | " in first or (" " not in first and len(first) > 40)
        return first if markup.is_heading(first) and not table_or_code else None
    return None


def _archive_sections(filename: str, data: bytes) -> list[Section]:
    """The readable files inside a zip archive whose name did not say so, as one document: each
    member's sections (nested archives and members over the per-file limit or the compression-ratio
    limit are left out, as the gateway would refuse them)."""
    from ragway.sources import ArchiveError, expand_archive, is_archive

    s = get_settings()
    sections: list[Section] = []
    try:
        for member in expand_archive("archive.zip", io.BytesIO(data), s.max_archive_members):
            packed = member.packed or 1
            if (member.open is None or is_archive(member.name) or member.size > s.max_file_bytes
                    or member.size > packed * s.max_compression_ratio and member.size > 8 * 1024 * 1024):
                continue
            with member.open() as f:
                content = f.read(s.max_file_bytes + 1)
            try:
                sections += load(f"{filename}/{member.name}", content)
            except DocumentError as exc:
                log.info("member of %s not read: %s", filename, exc.message)
    except ArchiveError as exc:  # e.g. a .docx cut off in transfer: name the format its name claims
        kind = claimed_type(filename) or "ZIP"
        raise DocumentError(filename, f"{kind}: the file is corrupt or truncated: its ZIP container cannot be read "
                                      f"({exc.__cause__ or exc})") from exc
    if not sections:
        raise DocumentError(filename, "ZIP: a zip archive (named otherwise) holding no readable file")
    return sections


# Where a PPTX or DOCX keeps its pictures, and how many of them OCR reads at most.
PICTURE_FOLDERS = {"PPTX": "ppt/media/", "DOCX": "word/media/"}
MAX_OCR_PICTURES = 50
MIN_PICTURE_CHARS = 3  # fewer letters or digits is a logo's stray mark ("2" in the Python logo), not text


def _picture_sections(filename: str, file_type: str, data: bytes) -> list[Section]:
    """A slide deck or document without a word of text but with pictures (slides that are
    screenshots, a scanned letter pasted into Word): its pictures read by OCR, a slide's on its page."""
    if not ocr.ocr_enabled(get_settings()):
        return []
    pictures: list[tuple[int, bytes]] = []
    try:
        if file_type == "PPTX":
            import pptx
            from pptx.enum.shapes import MSO_SHAPE_TYPE

            for number, slide in enumerate(pptx.Presentation(io.BytesIO(data)).slides, start=1):
                pictures += [(number, shape.image.blob) for shape in slide.shapes
                             if shape.shape_type == MSO_SHAPE_TYPE.PICTURE]
        else:
            import zipfile

            with zipfile.ZipFile(io.BytesIO(data)) as package:
                pictures = [(0, package.read(name)) for name in sorted(package.namelist())
                            if name.startswith(PICTURE_FOLDERS[file_type])]
    except Exception as exc:  # noqa: BLE001 - a package python-pptx cannot walk has no pictures to read
        log.info("pictures of %s not read: %r", filename, exc)
        return []
    sections = []
    for page, blob in pictures[:MAX_OCR_PICTURES]:
        try:
            text = ocr.read_image(blob).strip()
        except ocr.OcrError:  # a vector format (EMF, WMF) or a broken picture
            continue
        if sum(ch.isalnum() for ch in text) >= MIN_PICTURE_CHARS:
            sections.append(Section(text=text, page=page))
    return sections


def _no_text(filename: str, file_type: str) -> NoReturn:
    raise DocumentError(filename, f"{file_type}: no text could be extracted")


def _partition(filename: str, file_type: str, data: bytes, encoding: str | None) -> list[Section]:
    _offline_nlp()
    from unstructured.partition.auto import partition

    try:
        # E-mail attachments would each need their own parser (images need OCR, audio a speech
        # model): the message body is ingested, attachments are not.
        elements = partition(file=io.BytesIO(data), metadata_filename=filename, strategy="fast",
                             encoding=encoding, languages=["eng", "zho"], process_attachments=False,
                             content_type="text/markdown" if file_type == "MD" else None)
    except Exception as exc:
        log.info("parse failed for %s: %r", filename, exc)
        raise DocumentError(filename, f"{file_type}: {_describe(exc)}") from exc
    if file_type == "PPTX":
        elements = _slide_titles_first(elements, data)
    return _sections(elements, marked=file_type in MARKED_HEADINGS, spreadsheet=file_type in SPREADSHEETS)


# Formats unstructured reads through pandas, whose tables need `tables.spreadsheet_rows`.
SPREADSHEETS = {"XLSX", "CSV", "TSV"}


def _slide_titles_first(elements: list, data: bytes) -> list:
    """A slide's title is read first, wherever its shape sits in the slide's drawing order (unstructured
    reads shapes in that order, so a table drawn before the title came before it and lost its heading),
    and is the slide's heading even when it reads as a sentence ("This is kinda backwards, huh?")."""
    import pptx

    try:
        titles = {number: " ".join(slide.shapes.title.text.split())
                  for number, slide in enumerate(pptx.Presentation(io.BytesIO(data)).slides, start=1)
                  if slide.shapes.title is not None and slide.shapes.title.text.strip()}
    except Exception as exc:  # noqa: BLE001 - a deck python-pptx cannot walk keeps unstructured's order
        log.info("slide titles not read: %r", exc)
        return elements
    out: list = []
    first_of_page: dict[int, int] = {}
    for el in elements:
        page = int(getattr(el.metadata, "page_number", None) or 0)
        first_of_page.setdefault(page, len(out))
        title = titles.get(page)
        if title and el.category == "Title" and " ".join((el.text or "").split()) == title:
            out.insert(first_of_page[page], _Element(el.text, "Title", el.metadata, marked=True))
            titles.pop(page)  # only the first element with the title's text
        else:
            out.append(el)
    return out


class _Element:
    """What `_sections` reads of an unstructured element (a text file's elements have no page);
    `marked`: a heading the author marked as one (a slide's title), whatever it reads like."""

    def __init__(self, text: str, category: str, metadata=None, marked: bool = False):
        self.text, self.category, self.metadata, self.marked = text, category, metadata, marked


def _text_sections(text: str) -> list[Section]:
    """A plain-text file as unstructured's `partition_text` reads it (its paragraph grouping and
    splitting, bullets cleaned), without classifying every paragraph with spaCy: `_sections` only
    asks whether a paragraph is a Title, and only of one that reads as a heading
    (`markup.is_heading`), so only those are classified, by unstructured's own `element_from_text`.
    The sections are the same as `partition`'s; a text file of 2,000 paragraphs parses ~20x faster."""
    _offline_nlp()
    from unstructured.cleaners.core import auto_paragraph_grouper, clean_bullets
    from unstructured.partition.text import _is_empty_bullet, _split_by_paragraph, element_from_text
    from unstructured.partition.text_type import is_bulleted_text

    elements = []
    for paragraph in _split_by_paragraph(auto_paragraph_grouper(text)):
        paragraph = paragraph.strip()
        if not paragraph or _is_empty_bullet(paragraph):
            continue
        if is_bulleted_text(paragraph):
            elements.append(_Element(clean_bullets(paragraph), "ListItem"))
        elif markup.is_heading(paragraph):
            element = element_from_text(paragraph)
            elements.append(_Element(element.text, element.category))
        else:  # body text whatever its category (NarrativeText, Text, Address, ...): its text as is
            elements.append(_Element(paragraph, "Text"))
    return _sections(elements)


def _plain_text(text: str, file_type: str) -> list[Section]:
    if file_type in ("HTML", "XML"):
        text = mail.html_text(text)
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    body = "\n".join(lines).strip()
    return [Section(text=body)] if body else []


def _sections(elements, marked: bool = False, spreadsheet: bool = False) -> list[Section]:
    """Sections that never span pages: a heading opens a new one (and stays its first line);
    each table is a section of its own, one row per line. Only a Title element that reads as a
    heading is one (`markup.is_heading`); any other is body text. A table of header rows only,
    followed on its page by a table that starts with figures, heads that table (unstructured cuts a
    sheet's header cells off its rows when a column of the header row is empty)."""
    sections: list[Section] = []
    texts: list[str] = []
    page, title, has_body = 0, "", False
    elements = [el for el in elements if (el.text or "").strip()]
    held: list[list[str]] = []  # header rows waiting for the table they head

    def flush() -> None:
        nonlocal has_body
        if texts:
            # Headings with no body after them (a text file whose every line unstructured calls a
            # Title) head nothing: the section's title is its first line, as the splitter expects,
            # not its last line, which the splitter would put in front of the text again.
            sections.append(Section(text="\n\n".join(texts), page=page, title=title if has_body else texts[0]))
            texts.clear()
        has_body = False

    for at, el in enumerate(elements):
        text = el.text.strip()
        el_page = int(getattr(el.metadata, "page_number", None) or 0)
        if el_page != page:
            flush()
            page = el_page
            if getattr(el.metadata, "page_name", None):
                title = ""  # a new sheet: the last one's heading does not head it
        if el.category == "Title" and (getattr(el, "marked", False) or markup.is_heading(text, marked)):
            if has_body:  # consecutive headings stay together with the body that follows them
                flush()
            title = text
            texts.append(text)
        elif el.category == "Table":
            html_caption, rows, marked_header = _table_rows(el, spreadsheet)
            following = elements[at + 1] if at + 1 < len(elements) else None
            if (rows and following is not None and following.category == "Table" and tables.is_header_block(rows)
                    and int(getattr(following.metadata, "page_number", None) or 0) == page
                    and (after := _table_rows(following, spreadsheet)[1]) and not tables.only_names(after[0])):
                held += rows
                continue
            rows, held = held + rows, []
            # "Table 2: Units by region" right before the table is its caption: it goes with the rows,
            # and so does a short line naming it ("Simple uniform table").
            caption = texts.pop() if has_body and texts and tables.is_label(texts[-1]) else ""
            if texts == [title]:
                texts.clear()  # a heading alone: the table's chunks carry it
            has_body = has_body and bool(texts)
            flush()
            text = _table_text(el, rows, marked_header, [caption, html_caption])
            sections.append(Section(text=text, page=page, title=title, kind="table"))
        else:
            texts.append(text)
            has_body = True
    flush()
    return sections


_DEFAULT_SHEET = re.compile(r"(sheet|tabelle|feuil|hoja|foglio|planilha|工作表)\s*\d*", re.IGNORECASE)


def _table_rows(element, spreadsheet: bool = False) -> tuple[str, list[list[str]], bool]:
    """(caption, rows of cell texts, whether the first row is marked as headers) from the HTML unstructured
    keeps; no rows where there is none or it is malformed."""
    html = getattr(element.metadata, "text_as_html", None)
    if not html:
        return "", [], False
    try:
        caption, rows, marked = tables.html_rows(html)
    except (ValueError, TypeError) as exc:  # malformed HTML: the flat text
        log.info("table HTML not parsed: %s", exc)
        return "", [], False
    return caption, tables.spreadsheet_rows(rows) if spreadsheet else rows, marked


def _table_text(element, rows: list[list[str]], marked: bool, captions: list[str]) -> str:
    """A table as a label line and one line per row, each cell with its column header
    (ragway/tables.py); its flat text where it has no rows. The label: the sheet's name (unless a
    default "Sheet1"), the captions."""
    sheet = getattr(element.metadata, "page_name", None) or ""
    labels = [f"Sheet: {sheet}" if sheet and not _DEFAULT_SHEET.fullmatch(sheet.strip()) else "", *captions]
    if rows:
        return tables.table_text(rows, labels, marked)
    return "\n".join(label for label in [*labels, element.text.strip()] if label)
