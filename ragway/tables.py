"""Tables as text a search finds by row: each row with its column headers.

"North | Q2 | 1,200" says nothing about what 1,200 is; "Region: North | Quarter: Q2 | Units: 1,200"
is found by a question naming a column, and reads as well. A table's text is its label on the first
line (caption, sheet name, or else its column names: the splitter repeats it on every chunk of the
table, ragway/splitter.py) and then one line per row. A first row that does not read as column
headers (numbers, a single cell) leaves the rows as they are ("cell | cell")."""

from __future__ import annotations

import logging
import re

from ragway import markup

log = logging.getLogger(__name__)

# "Table 3: ...", "Tab. 2", "Exhibit 10.1", "表 1 ..." (a paragraph right before a table naming it)
CAPTION = re.compile(r"^\s*(table|tab\.|exhibit|schedule|表)\s*[0-9IVXLivxl一二三四五六七八九十]+", re.IGNORECASE)
_YEAR = re.compile(r"(fy|q[1-4]\s*)?(19|20)\d\d[a-z]?", re.IGNORECASE)
MAX_LABEL_CHARS = 200


def is_caption(text: str) -> bool:
    return len(text) <= MAX_LABEL_CHARS and bool(CAPTION.match(text))


def html_rows(html: str) -> tuple[str, list[list[str]], bool]:
    """(caption, rows of cell texts, whether the first row is marked as headers: <th> or <thead>)."""
    from lxml import html as lxml_html

    root = lxml_html.fromstring(html)
    caption = next((" ".join(c.text_content().split()) for c in root.iter("caption")), "")
    rows, marked = [], False
    for tr in root.iter("tr"):
        cells = [cell for cell in tr if cell.tag in ("td", "th")]
        texts = [markup.cell_text(cell.text_content()) for cell in cells]
        if any(texts):
            if not rows:
                marked = all(c.tag == "th" for c in cells) or tr.getparent().tag == "thead"
            rows.append(texts)
    return caption, rows, marked


def _named(cell: str) -> bool:
    """A cell that can name a column: it holds a letter ("Units", "Q2", "销量"), or is a year."""
    return any(ch.isalpha() for ch in cell) or _YEAR.fullmatch(cell.strip()) is not None


def is_header(row: list[str], marked: bool = False) -> bool:
    """Whether a first row names columns: two or more cells, most of them names (a row of a label and
    its figures, "PetCare | 0 | -2 | —", is data)."""
    filled = [c for c in row if c]
    if len(filled) < 2:
        return False
    return marked or sum(_named(c) for c in filled) * 2 > len(filled)


def table_text(rows: list[list[str]], labels: list[str] = (), marked: bool = False) -> str:
    """The table's text: a label line, then its rows paired with the column headers where the first
    row (after any one-cell title rows, which join the label) reads as headers."""
    labels = [label for label in labels if label]
    while rows and sum(1 for c in rows[0] if c) == 1 and len(rows) > 1:  # a title row inside the table
        labels.append(next(c for c in rows[0] if c))
        rows = rows[1:]
    labels = list(dict.fromkeys(" ".join(label.split())[:MAX_LABEL_CHARS] for label in labels))
    if len(rows) >= 2 and is_header(rows[0], marked):
        header, body = rows[0], rows[1:]
        lines = [_paired(header, row) for row in body if row != header]
        first = " — ".join(labels) if labels else " | ".join(c for c in header if c)
        return "\n".join([first, *(line for line in lines if line)])
    lines = [" | ".join(c for c in row if c) for row in rows]  # empty cells (layout tables) say nothing
    lines = [line for line in lines if line]
    return "\n".join([" — ".join(labels), *lines] if labels else lines)


def _paired(header: list[str], row: list[str]) -> str:
    """"Name: value" cells. A value under an empty header cell (filings put "$" and the figure in
    columns of their own under one year) takes the nearest free header up to two columns to its left."""
    row = _merge_symbols(row)
    used: set[int] = set()
    cells = []
    for i, value in enumerate(row):
        if not value:
            continue
        column = _column(header, row, i, used)
        name = header[column] if column is not None else ""
        if column is not None:
            used.add(column)
        cells.append(f"{name}: {value}" if name and name != value else value)
    return " | ".join(cells)


def _column(header: list[str], row: list[str], i: int, used: set[int]) -> int | None:
    if i < len(header) and header[i] and i not in used:
        return i
    for k in (i - 1, i - 2):
        if 0 <= k < len(header) and header[k] and k not in used and (k >= len(row) or not row[k]):
            return k
    return None


_OPENING = {"$", "€", "£", "¥", "(", "$(", "($"}
_CLOSING = {")", "%", ")%", "%)"}


def _merge_symbols(row: list[str]) -> list[str]:
    """"$" | "1,167,903" | ")" cells of a filing's table joined into "$1,167,903)"."""
    row = list(row)
    for i, cell in enumerate(row):
        if cell in _OPENING:
            nxt = next((k for k in range(i + 1, min(i + 3, len(row))) if row[k]), None)
            if nxt is not None and row[nxt] not in _OPENING | _CLOSING:
                row[i], row[nxt] = cell + row[nxt], ""
        elif cell in _CLOSING:
            prev = next((k for k in range(i - 1, max(i - 3, -1), -1) if row[k]), None)
            if prev is not None:
                row[prev], row[i] = row[prev] + cell, ""
    return row
