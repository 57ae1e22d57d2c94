"""The records that flow between loader, splitter, embedder, store and gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    """A piece of a parsed document that shares one page (0 = the format has no pages)."""

    text: str
    page: int = 0
    title: str = ""  # the heading the section sits under ("" if none)
    kind: str = "text"  # "table": one row per line, cells joined by " | ", the first line its header


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
class Hit:
    """A retrieved chunk and its cosine similarity to the query (higher is closer)."""

    chunk_id: str
    score: float
    text: str
    kb: str
    doc_id: str
    source: str
    page: int
    chunk_index: int
    metadata: dict[str, Any]
