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


MAX_NAME_CHARS = 80


def is_label(text: str) -> bool:
    """Whether the paragraph right before a table names it: a caption ("Table 3: Revenue by segment"),
    or one short line that reads as a heading, not a sentence ("Simple uniform table", "Hotel limits")."""
    t = " ".join(text.split())
    if is_caption(t):
        return True
    return ("\n" not in text.strip() and len(t) <= MAX_NAME_CHARS and markup.is_heading(t)
            and not t.endswith((".", "!", "?", "。", "！", "？")))


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


def only_names(row: list[str]) -> bool:
    """A row of names only (column headers, a title): no cell holds a figure."""
    filled = [c for c in row if c]
    return bool(filled) and all(_named(c) for c in filled)


def is_header_block(rows: list[list[str]]) -> bool:
    """Whether a table holds nothing but header rows (a spreadsheet's header cells that unstructured
    returned as a table of their own, above the rows they name): at most three rows of names only."""
    return 0 < len(rows) <= 3 and all(only_names(row) for row in rows)


def _filled(row: list[str]) -> int:
    return sum(1 for c in row if c)


def table_text(rows: list[list[str]], labels: list[str] = (), marked: bool = False) -> str:
    """The table's text: a label line, then its rows paired with the column headers where the first
    row (after any title rows, which join the label) reads as headers. Title rows: a row of one cell,
    and a row of names starting over the row labels, above a fuller header row with no name there ("In
    millions of CHF ... January–June 2023" above "Sales | Trading operating profit | ..."). A row of
    group names over the columns (none over the row labels) above the header row names the columns
    with it ("2023 Sales", "2023 Profit": a group name spans the empty cells to its right, where a
    spreadsheet keeps a merged cell's text)."""
    labels = [label for label in labels if label]
    while len(rows) > 1 and (_filled(rows[0]) == 1 or _is_banner(rows[0], rows[1])):  # title rows
        labels.append(" ".join(c for c in rows[0] if c))
        rows = rows[1:]
    labels = list(dict.fromkeys(" ".join(label.split())[:MAX_LABEL_CHARS] for label in labels))
    if len(rows) >= 3 and _is_group_row(rows[0], rows[1]) and not only_names(rows[2]):
        rows = [_joined_header(rows[0], rows[1]), *rows[2:]]
    if len(rows) >= 2 and is_header(rows[0], marked):
        header, body = rows[0], rows[1:]
        lines = [_paired(header, row) for row in body if row != header]
        first = " — ".join(labels) if labels else " | ".join(c for c in header if c)
        return "\n".join([first, *(line for line in lines if line)])
    lines = [" | ".join(c for c in row if c) for row in rows]  # empty cells (layout tables) say nothing
    lines = [line for line in lines if line]
    return "\n".join([" — ".join(labels), *lines] if labels else lines)


def _is_banner(row: list[str], below: list[str]) -> bool:
    """A row of names that starts over the row labels, above a fuller header row with no name there:
    the table's title and unit ("In millions of CHF"), not column names."""
    return (bool(row[0]) and not below[0] and only_names(row) and only_names(below)
            and _filled(row) < _filled(below))


def _is_group_row(row: list[str], below: list[str]) -> bool:
    """A row of names over some columns (none over the row labels) above a fuller header row, each
    name spanning two or more of its columns (not so in an HTML table whose colspans are lost: there
    the rows are left as they are)."""
    if row[0] or not only_names(row) or not only_names(below) or not is_header(below):
        return False
    spans = _spans(row, below)
    return bool(spans) and all(n >= 2 for n in spans.values())


def _spans(upper: list[str], lower: list[str]) -> dict[int, int]:
    """Upper column -> how many named lower columns its name heads (it spans the cells to its right up to
    the next upper name or an unnamed lower column)."""
    spans: dict[int, int] = {}
    group = None
    for i in range(max(len(upper), len(lower))):
        top = upper[i] if i < len(upper) else ""
        bottom = lower[i] if i < len(lower) else ""
        if top:
            group = i
            spans[group] = 0
        elif not bottom:
            group = None
        if group is not None and bottom:
            spans[group] += 1
    return spans


def _joined_header(upper: list[str], lower: list[str]) -> list[str]:
    """Two header rows as one: each column's names top to bottom; an upper name also heads the
    columns to its right up to the next upper name (a merged cell spanning them)."""
    joined, group = [], ""
    for i in range(max(len(upper), len(lower))):
        top = upper[i] if i < len(upper) else ""
        bottom = lower[i] if i < len(lower) else ""
        group = top or (group if bottom else "")
        joined.append(" ".join(dict.fromkeys(c for c in (group, bottom) if c)))
    return joined


_ESCAPED_BREAK = re.compile(r"\\[nrt]")
_WHOLE_FLOAT = re.compile(r"-?\d+\.0")


def spreadsheet_rows(rows: list[list[str]]) -> list[list[str]]:
    """Cells as a person sees them in a spreadsheet, from the table pandas renders for unstructured:
    line breaks inside a cell, which pandas writes as the two characters "\\n", read as spaces; and
    a column of whole numbers that pandas printed as floats because the column has empty cells
    ("243.0", "244.0") printed as the integers they are."""
    rows = [[" ".join(_ESCAPED_BREAK.sub(" ", c).split()) for c in row] for row in rows]
    width = max((len(row) for row in rows), default=0)
    for col in range(width):
        values = [row[col] for row in rows if col < len(row) and row[col]]
        numbers = [v for v in values if not only_names([v])]
        if numbers and all(_WHOLE_FLOAT.fullmatch(v) for v in numbers):
            for row in rows:
                if col < len(row) and _WHOLE_FLOAT.fullmatch(row[col]):
                    row[col] = row[col][:-2]
    return rows


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
