"""The records that flow between loader, splitter, embedder, store and gateway."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    """A piece of a parsed document that shares one page (0 = the format has no pages)."""

    text: str
    page: int = 0
    title: str = ""  # the heading the section sits under ("" if none)
    kind: str = "text"  # "table": its label line first (repeated on every chunk), then one row per line (tables.py)


# metadata key where every chunk has the paired multilingual vector (Settings.multilingual_chunks=all): whether
# its text counts as CJK text (lexical.has_cjk_half), so a search can read one script's chunks
CJK_TEXT_KEY = "cjk_text"
CONTEXT_KEY = "context"  # metadata key: the document and section a chunk belongs to, embedded and indexed with it


def indexed_text(text: str, metadata: dict[str, Any] | None) -> str:
    """The text that is embedded and indexed for BM25: the chunk's context (its document's title or file
    name, and its section heading) on a line before its text. Users are shown `text` alone."""
    context = (metadata or {}).get(CONTEXT_KEY) or ""
    return f"{context}\n{text}" if context else text


def document_label(source: str, title: str | None = None) -> str:
    """How a chunk's context names its document: its title, or (None) its file name without the extension,
    with `-` and `_` read as spaces ("reports/acme-10k_2021.html" -> "acme 10k 2021")."""
    if title is not None:
        return " ".join(title.split())
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 5:
        stem = name
    return " ".join(re.sub(r"[_\-]+", " ", stem).split())


def document_name(source: str, title: str | None) -> str | None:
    """A titled document's name in its chunks' context: its title, and its file name unless the title
    holds it ("Iwan Roberts (norwich city)": the file name often says what the title does not)."""
    if not title:
        return None
    label, title = document_label(source), " ".join(title.split())
    return title if label.casefold() in title.casefold() else f"{title} ({label})"


def chunk_context(source: str, title: str | None, section: str, text: str) -> str:
    """A chunk's context: its document's label and its section heading, each unless the chunk's text
    starts with it already (the splitter starts chunks with their heading), e.g.
    "acme 10k 2021 › Item 7. Liquidity"."""
    label = document_label(source, title)
    section = " ".join(section.split())
    parts = [p for p in dict.fromkeys((label, section)) if p and not text.startswith(p)]
    return " › ".join(parts)


@dataclass
class Chunk:
    chunk_id: str
    tenant: str
    kb: str
    doc_id: str
    source: str
    page: int
    chunk_index: int
    content_hash: str
    text: str
    created_at: int
    metadata: dict[str, Any] = field(default_factory=dict)
    embedding: list[float] | None = None


@dataclass(frozen=True)
class ChunkRef:
    """Where another chunk with a hit's text is: the same rows as CSV and as XLSX, one notice in two files."""

    chunk_id: str
    doc_id: str
    source: str
    page: int


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its cosine similarity to the query (higher is closer). `also_in`: lower-ranked
    chunks with the same text, folded into this one (retriever.fold_repeats)."""

    chunk_id: str
    score: float
    text: str
    kb: str
    doc_id: str
    source: str
    page: int
    chunk_index: int
    metadata: dict[str, Any]
    also_in: tuple[ChunkRef, ...] = ()

    @property
    def ref(self) -> ChunkRef:
        return ChunkRef(chunk_id=self.chunk_id, doc_id=self.doc_id, source=self.source, page=self.page)

    @property
    def sources(self) -> tuple[str, ...]:
        """The files that hold this text: its own, then those of the chunks folded into it."""
        return (self.source, *(r.source for r in self.also_in))
