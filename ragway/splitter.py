"""Splitting parsed sections into chunks with LangChain's RecursiveCharacterTextSplitter."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ragway.records import Section
from ragway.settings import Settings

# Paragraphs, lines, then sentence ends in Chinese and English, then clauses, words, characters.
# Chinese has no spaces, so without its punctuation a CJK text would be cut mid-sentence.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", "、", ", ", " ", ""]


@dataclass(frozen=True)
class TextPiece:
    text: str
    page: int
    title: str


class Splitter:
    def __init__(self, settings: Settings):
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
            separators=SEPARATORS, keep_separator="end", strip_whitespace=True,
        )

    def split(self, sections: list[Section]) -> list[TextPiece]:
        """Each section is split on its own, so a chunk never spans two pages."""
        pieces: list[TextPiece] = []
        for section in sections:
            for text in self._splitter.split_text(section.text):
                if text.strip():
                    pieces.append(TextPiece(text=text, page=section.page, title=section.title))
        return pieces
