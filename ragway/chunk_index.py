"""The chunk index: what the services need from wherever chunks and their vectors are stored, and
the one factory that opens it from the settings.

`ChunkStore` (Milvus: the embedded 2.3.5 server, a Milvus cluster or milvus-lite, `ragway/store.py`)
is today's only implementation; services and tasks are typed against `ChunkIndex`, so tests can
hand them another."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ragway.freshness import WriteMarks
from ragway.records import Chunk, Hit
from ragway.settings import Settings
from ragway.store import ChunkStore, StoredVersion


class ChunkIndex(Protocol):
    # --- writing (the ingest worker) and deleting (kb and document deletion) ---
    def upsert(self, chunks: Sequence[Chunk]) -> int: ...

    def delete_chunks_from(self, tenant: str, kb: str, doc_id: str, first_stale_index: int) -> None: ...

    def delete_document(self, tenant: str, kb: str, doc_id: str) -> None: ...

    def delete_written_by(self, tenant: str, kb: str, doc_ids: Sequence[str], job_id: str) -> None: ...

    def delete_kb(self, tenant: str, kb: str) -> None: ...

    def stored_version(self, tenant: str, doc_id: str) -> StoredVersion | None: ...

    # --- reading ---
    def search(self, tenant: str, kb: str, vector: Sequence[float], top_k: int,
               extra_filter: str = "") -> list[Hit]: ...

    def search_many(self, tenant: str, kb: str, vectors: Sequence[Sequence[float]], top_k: int,
                    extra_filter: str = "") -> list[list[Hit]]: ...

    def search_with_vectors(self, tenant: str, kb: str, vector: Sequence[float], top_k: int,
                            extra_filter: str = "") -> list[tuple[Hit, list[float]]]: ...

    def fetch_hits(self, tenant: str, kb: str, chunk_ids: Sequence[str], with_vectors: bool = False,
                   extra_filter: str = "") -> dict[str, tuple[Hit, list[float] | None]]: ...

    def has_full_text(self) -> bool:
        """Whether BM25 runs in the index itself (`search_text`, `hybrid_search_native`)."""
        ...

    def search_text(self, tenant: str, kb: str, query: str, top_k: int, extra_filter: str = "") -> list[Hit]: ...

    def hybrid_search_native(self, tenant: str, kb: str, query: str, vector: Sequence[float], top_k: int,
                             fetch_k: int, rrf_k: int = 60, extra_filter: str = "") -> list[Hit]: ...

    def iter_rows(self, tenant: str, kb: str, fields: Sequence[str], extra_filter: str = "",
                  batch_size: int = 2000) -> Iterator[dict[str, Any]]: ...

    def kb_fingerprint(self, tenant: str, kb: str) -> str: ...

    def list_documents(self, tenant: str, kb: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...

    def count(self, tenant: str, kb: str | None = None, doc_id: str | None = None) -> int: ...

    def reading_ahead(self, tenant: str, kb: str) -> AbstractContextManager[None]:
        """Around a search started on the event loop: read-your-writes bookkeeping meanwhile."""
        ...

    def ping(self) -> None: ...


def open_chunk_index(settings: Settings, dim: int, write_marks: WriteMarks | None = None) -> ChunkIndex:
    """The index the settings name, its collection created (or checked against them) and loaded."""
    index = ChunkStore(settings, dim=dim, write_marks=write_marks)
    index.ensure_collection()
    return index
