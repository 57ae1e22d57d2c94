"""Markup kept out of chunk text, and headings told from heading-like lines.

Markdown is rendered by Python-Markdown, the parser unstructured's own Markdown partitioning uses
(measured on the shared corpus: it reads CJK emphasis such as `**问题：**正文` that CommonMark
parsers leave raw), and HTML is read by lxml. A `.txt` file written in Markdown is partitioned as
Markdown (`looks_like_markdown`); a table cell holding Markdown or HTML is rendered to its text
(`cell_text`).

unstructured calls an element a Title by its shape; without a part-of-speech tagger (none is
installed offline) every short line without a verb is one: "is", "determining", a line of
dialogue, a spreadsheet cell "a". `is_heading` keeps those that read as headings."""

from __future__ import annotations

import contextlib
import re
import unicodedata

MARKDOWN_EXTENSIONS = ["tables", "fenced_code"]  # what unstructured's partition_md renders with
MARKDOWN_PROBE_CHARS = 65_536  # the head of a text file that decides whether it is Markdown

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_INLINE = {"strong": "strong", "em": "em", "a": "link", "img": "image", "code": "code"}


def _render(text: str) -> str:
    import markdown

    return markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS)


def markdown_signals(text: str) -> dict[str, int]:
    """How many Markdown constructs the parser finds in `text`, by kind: headings, strong, em,
    link, image, code (inline spans and fenced blocks; an indented block is plain text's indent
    too) and html (raw tags passed through)."""
    from lxml import etree, html

    try:
        root = html.fragment_fromstring(_render(text), create_parent="div")
    except (ValueError, etree.ParserError):
        return {}
    counts: dict[str, int] = {}
    fenced = "```" in text or "~~~" in text
    for el in root.iterdescendants():
        if not isinstance(el.tag, str):
            continue
        if el.tag in _HEADINGS:
            kind = "heading"
        elif el.tag == "code" and el.getparent() is not None and el.getparent().tag == "pre":
            kind = "code" if fenced else None  # else an indented block, which plain text has too
        elif el.tag in _INLINE:
            kind = _INLINE[el.tag]
        elif el.tag in ("p", "ul", "ol", "li", "pre", "table", "thead", "tbody", "tr", "th", "td", "hr", "blockquote"):
            kind = None  # what plain text also becomes (paragraphs, "-" lists, indented lines, "---")
        else:
            kind = "html"
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def looks_like_markdown(text: str) -> bool:
    """Whether a text file is written in Markdown: at least three Markdown constructs in its head,
    of at least two kinds, one of them a heading (`#` or underlined), or five of three kinds. Plain
    text rarely has even one: a lone `_word_` or an underlined line is not enough."""
    signals = markdown_signals(text[:MARKDOWN_PROBE_CHARS])
    total = sum(signals.values())
    if signals.get("heading") and len(signals) >= 2 and total >= 3:
        return True
    return len(signals) >= 3 and total >= 5


_CELL_MARKUP = re.compile(r"\*\*\S|__\S|\]\(|!\[|</?[A-Za-z][^<>]*>|^\s{0,3}#{1,6}\s|`", re.MULTILINE)


def cell_text(text: str) -> str:
    """A table cell's text on one line; a cell holding Markdown or HTML (an issue tracker's export:
    `**Problem**`, `[docs](url)`, `<img ...>`) is rendered to what it shows first."""
    if _CELL_MARKUP.search(text):
        from lxml import etree, html

        with contextlib.suppress(ValueError, etree.ParserError):  # not renderable: the cell as it is
            text = html.fragment_fromstring(_render(text), create_parent="div").text_content()
    return " ".join(text.split())


# A heading ends without a sentence's mid or lead-in punctuation ("," ";" ":" and open brackets).
_OPEN_END = (",", ";", ":", "，", "；", "：", "、", "(", "[", "{", "（", "【", "/", "\\", "&", "+", ">", "**", "__")
_SENTENCE_END = (".", "!", "?", "。", "！", "？", "…")
_HYPHENATED_END = re.compile(r"[^\W\d_]-$")  # a word broken at the end of a line
_QUOTES = "\"'“”‘’«»「」『』"
_FIGURE = r"[(\[]?[-+−]?[$€£¥]?\d[\d,.]*%?[)\]]?"
_FIGURES_END = re.compile(rf"(^|\s){_FIGURE}\s+{_FIGURE}$")  # ends with two figures
MAX_HEADING_CHARS = 150  # a longer "heading" is body text
MAX_SENTENCE_HEADING_WORDS = 4  # "Other rights." is a heading; "He bowed to the prince." a sentence


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F") and ch.isalpha()


def _words(text: str) -> float:
    """Words, where two CJK characters count as one (CJK has no spaces)."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    spaced = sum(1 for token in text.split() if any(ch.isalpha() and not _is_cjk(ch) for ch in token))
    return spaced + cjk / 2


_MINOR_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "vs", "with"}


def _title_case(text: str) -> bool:
    """Every word capitalized but the short ones, as in "Disclaimer of Warranties and Limitation of
    Liability" (a sentence has verbs and nouns in lower case)."""
    words = [w for token in text.split() if (w := "".join(ch for ch in token if ch.isalpha()))]
    major = [w for w in words if w.lower() not in _MINOR_WORDS and (w[0].isupper() or w[0].islower())]
    return len(major) >= 3 and all(w[0].isupper() for w in major)


def could_be_heading(title: str) -> bool:
    """False for what is no heading whatever its source: nothing but digits and punctuation, one
    Latin letter ("a", "J"), a lone lower-case word ("is", "determining"). One CJK character can
    be a title (a dictionary entry)."""
    t = " ".join(title.split())
    letters = [ch for ch in t if ch.isalpha()]
    if not letters or (len(letters) == 1 and not _is_cjk(letters[0])):
        return False
    return not (" " not in t and t.isalpha() and t.islower())


def is_heading(text: str, marked: bool = False) -> bool:
    """Whether an element unstructured calls a Title reads as a heading: short, not a fragment of a
    sentence (its first word in lower case, or it ends on a comma, a colon, an open bracket), and,
    unless the format `marked` it as a heading (an HTML `<h2>`, a Markdown `##`), not a sentence
    ("He bowed to the prince.", two CJK sentences) nor a quotation."""
    t = " ".join(text.split())
    if not could_be_heading(t) or len(t) > MAX_HEADING_CHARS:
        return False
    first = next(ch for ch in t if ch.isalnum())
    if first.islower() or t.endswith(_OPEN_END) or _HYPHENATED_END.search(t) or "://" in t:
        return False  # "suddenly cried a voice.", "b. produce, reproduce, and", "Important points:", "agree-"
    if t.rsplit(" ", 1)[-1] in _MINOR_WORDS:
        return False  # a line wrapped mid-sentence: "... prompted both controversy and"
    if _FIGURES_END.search(t):
        return False  # a row of a table in text: "1997–2004 Norwich City 278 (84)", "Q2 3.02 1.72"
    if marked:
        return True
    if t[0] in _QUOTES:
        return False  # a line of dialogue
    stripped = t.rstrip(_QUOTES + ")）")
    sentence_like = stripped.endswith(_SENTENCE_END) and not stripped.endswith("...") or ", " in t or "，" in t
    if sentence_like and _words(t) > MAX_SENTENCE_HEADING_WORDS and not _title_case(t):
        return False  # "Section 5 -- Disclaimer of Warranties and Limitation of Liability." stays a heading
    return "。" not in t
