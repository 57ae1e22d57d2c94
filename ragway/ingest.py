"""One document in, its chunks stored: load -> split -> embed -> upsert, idempotently."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ragway import ids, loader
from ragway.embedder import Embedder
from ragway.errors import DocumentError
from ragway.records import Chunk
from ragway.splitter import Splitter
from ragway.store import ChunkStore

UPSERT_BATCH = 512


@dataclass(frozen=True)
class IngestResult:
    doc_id: str
    chunks: int
    skipped: bool


class Ingestor:
    def __init__(self, splitter: Splitter, embedder: Embedder, store: ChunkStore):
        self.splitter = splitter
        self.embedder = embedder
        self.store = store

    def ingest(self, tenant: str, kb: str, source: str, data: bytes, job_id: str = "") -> IngestResult:
        doc_id = ids.document_id(tenant, kb, source)
        digest = ids.content_hash(data)
        stored = self.store.stored_version(tenant, doc_id)
        if stored is not None and stored[0] == digest and stored[1] == stored[2]:
            return IngestResult(doc_id=doc_id, chunks=stored[2], skipped=True)

        pieces = self.splitter.split(loader.load(source, data))
        if not pieces:
            raise DocumentError(source, "no text could be extracted")
        vectors = self.embedder.embed([p.text for p in pieces])
        now_ms = int(time.time() * 1000)
        file_type = source.rsplit(".", 1)[-1].lower() if "." in source else ""
        chunks = [
            Chunk(chunk_id=ids.chunk_id(tenant, kb, doc_id, i), tenant=tenant, kb=kb, doc_id=doc_id,
                  source=source, page=p.page, chunk_index=i, content_hash=digest, text=p.text,
                  created_at=now_ms, embedding=v,
                  metadata={"title": p.title, "file_type": file_type, "chunk_count": len(pieces),
                            "job_id": job_id})
            for i, (p, v) in enumerate(zip(pieces, vectors, strict=True))
        ]
        # Deterministic ids make a re-run overwrite the same rows; a shorter new version then
        # drops the chunks it no longer has. A crash in between is repaired by the retry, because
        # `stored_version` only calls a document complete when every chunk carries one hash.
        for start in range(0, len(chunks), UPSERT_BATCH):
            self.store.upsert(chunks[start:start + UPSERT_BATCH])
        self.store.delete_chunks_from(tenant, doc_id, len(chunks))
        return IngestResult(doc_id=doc_id, chunks=len(chunks), skipped=False)
