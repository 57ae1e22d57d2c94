"""Splitting parsed sections into chunks with LangChain's RecursiveCharacterTextSplitter."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ragway import markup
from ragway.records import Section
from ragway.settings import Settings

# Paragraphs, lines, then sentence ends in Chinese and English, then clauses, words, characters.
# Chinese has no spaces, so without its punctuation a CJK text would be cut mid-sentence.
# Bumped whenever the same text would be cut differently (kept evaluation kbs are keyed on it).
# 2: headings on every chunk, tables by rows under their header; 3: long titles kept; 4: 1/2; 5: a title that is no
# heading (a lone lower-case word, one letter) is neither repeated nor the chunks' title; 6: chunks carry their context
# (document title or file name, section: metadata.context), BM25-indexed before their text (ragway/records.py);
# 7: stacked headings ("# A" / "## B" / body) no longer repeat the inner one in front of the first chunk; 8: table
# rows with their column headers under a label line (caption, sheet name or column names: ragway/tables.py); 9: a
# sheet's header rows cut off by unstructured head their rows again, title and group header rows, pandas' "\n" and
# "243.0" in spreadsheet cells, a short line before a table labels it, a slide's title heads its slide; 10: a line
# ending in two figures ("Norwich City 278 (84)") is a table row, not a heading (ragway/markup.py); 11: a PDF page's
# tables of figures are table sections under their caption and header line (ragway/pdf.py); 12: a text file's first
# line or an HTML page's <title> names its document in the chunk context, beside the file name (loader.document_title);
# 13: a PDF table of words under a "Table N:" caption is a table section (pdf._captioned_rows)
CHUNKING_VERSION = 13

SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", "、", ", ", " ", ""]


@dataclass(frozen=True)
class TextPiece:
    text: str
    page: int
    title: str


class Splitter:
    def __init__(self, settings: Settings):
        self.chunk_size = settings.chunk_size
        # A longer "heading" is body text unstructured misread. Half a chunk, chosen on SciFact train
        # (hybrid nDCG@10 0.7188; a quarter, which left long paper titles in the first chunk only: 0.7012).
        self.max_heading = settings.chunk_size // 2
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
            separators=SEPARATORS, keep_separator="end", strip_whitespace=True,
        )

    def split(self, sections: list[Section]) -> list[TextPiece]:
        """Each section is split on its own, so a chunk never spans two pages. Every chunk starts
        with its section's heading (the first already does), so it is found by it and reads in
        context; table chunks hold whole rows and repeat the header row."""
        pieces: list[TextPiece] = []
        for section in sections:
            texts = self._table_chunks(section) if section.kind == "table" else self._text_chunks(section)
            title = section.title if markup.could_be_heading(section.title) else ""
            for text in texts:
                if text.strip():
                    pieces.append(TextPiece(text=self._with_heading(text, title), page=section.page, title=title))
        return pieces

    def _text_chunks(self, section: Section) -> list[str]:
        """The body is split without its leading heading (which `_with_heading` puts back on every
        chunk), so the heading never ends up as a chunk of its own."""
        text, title = section.text, section.title
        if self._is_heading(title) and text.startswith(title) and text[len(title):].strip():
            text = text[len(title):].lstrip()
        elif self._is_heading(title) and title in (stack := text.split("\n\n", 6))[1:6]:
            # Stacked headings ("A\n\nB\n\nbody", titled B): the body is split alone and its first
            # chunk opens with the whole stack, B once.
            at = stack.index(title)
            body = "\n\n".join(stack[at + 1:]).strip()
            if body:
                chunks = self._splitter.split_text(body)
                return ["\n\n".join([*stack[:at + 1], chunks[0]]), *chunks[1:]]
        return self._splitter.split_text(text)

    def _is_heading(self, title: str) -> bool:
        """A heading short enough to start every chunk; a longer one stays body text of the first
        chunk only, and so does a title that is no heading at all ("is", "a": `markup.could_be_heading`)."""
        return bool(title) and len(title) <= self.max_heading and markup.could_be_heading(title)

    def _with_heading(self, text: str, title: str) -> str:
        # Stacked headings ("A\n\nB\n\nbody", titled B) already hold it among their first paragraphs.
        if not self._is_heading(title) or text.startswith(title) or title in text.split("\n\n", 6)[:6]:
            return text
        return f"{title}\n{text}"

    def _table_chunks(self, section: Section) -> list[str]:
        """Rows grouped up to the chunk size, each group under the header row; a row longer than a
        chunk is split like text (the only case where a row is cut)."""
        header, *rows = section.text.split("\n")
        budget = self.chunk_size - len(header) - 1
        if not rows or budget < self.chunk_size // 4:  # no body, or a header too wide to repeat
            return self._splitter.split_text(section.text)
        chunks, group, size = [], [], 0
        for row in rows:
            if group and size + len(row) + 1 > budget:
                chunks.append("\n".join([header, *group]))
                group, size = [], 0
            if len(row) > budget:
                chunks.extend(f"{header}\n{part}" for part in self._splitter.split_text(row))
                continue
            group.append(row)
            size += len(row) + 1
        if group:
            chunks.append("\n".join([header, *group]))
        return chunks
