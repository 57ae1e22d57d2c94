"""Documents in, chunks stored: load -> split -> embed -> upsert, idempotently.

`prepare` parses one file; `write` embeds the chunks of several prepared files in one batch (small
files alone would leave the embedder's batches half empty) and stores each document."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ragway import ids, loader
from ragway.embedder import Embedder
from ragway.errors import DocumentError
from ragway.records import CONTEXT_KEY, Chunk, chunk_context, indexed_text
from ragway.splitter import Splitter, TextPiece
from ragway.store import ChunkStore
from ragway.timing import phase

UPSERT_BATCH = 512


@dataclass(frozen=True)
class IngestResult:
    doc_id: str
    chunks: int
    skipped: bool


@dataclass(frozen=True)
class PreparedDocument:
    tenant: str
    kb: str
    source: str
    doc_id: str
    content_hash: str
    pieces: list[TextPiece]
    job_id: str = ""
    title: str | None = None  # the document's title for its chunks' context; None: its file name

    @property
    def contexts(self) -> list[str]:
        """Each piece's context (document, section): BM25-indexed, embedded if embed_chunk_context, never shown."""
        return [chunk_context(self.source, self.title, p.title, p.text) for p in self.pieces]


class Ingestor:
    def __init__(self, splitter: Splitter, embedder: Embedder, store: ChunkStore):
        self.splitter = splitter
        self.embedder = embedder
        self.store = store
        self.max_chunks = store.settings.max_document_chunks
        self.embed_context = store.settings.embed_chunk_context

    def prepare(self, tenant: str, kb: str, source: str, data: bytes,
                job_id: str = "") -> PreparedDocument | IngestResult:
        """Parse and split a file, or an `IngestResult` when it is stored unchanged: skipped, or
        done when this very job stored it (a retry after the worker died before recording that)."""
        doc_id = ids.document_id(tenant, kb, source)
        digest = ids.content_hash(data)
        with phase("check"):
            stored = self.store.stored_version(tenant, doc_id)
        if stored is not None and stored.content_hash == digest and stored.complete:
            by_this_job = bool(job_id) and stored.job_id == job_id
            return IngestResult(doc_id=doc_id, chunks=stored.present, skipped=not by_this_job)
        with phase("parse"):  # OCR inside it is timed as "ocr" too
            sections = loader.load(source, data)
        with phase("split"):
            pieces = self.splitter.split(sections)
        if not pieces:
            raise DocumentError(source, "no text could be extracted")
        self._check_size(source, len(pieces))
        return PreparedDocument(tenant, kb, source, doc_id, digest, pieces, job_id)

    def _check_size(self, source: str, chunks: int) -> None:
        """Before embedding: a document is embedded within one task, so its size is bounded to fit
        the task's time limit (settings.max_document_chunks)."""
        if chunks > self.max_chunks:
            raise DocumentError(source, f"{chunks:,} chunks; the limit is {self.max_chunks:,} per document "
                                        "(RAGWAY_MAX_DOCUMENT_CHUNKS): split the file into smaller files")

    def write(self, documents: list[PreparedDocument]) -> list[IngestResult]:
        with phase("embed"):
            vectors = iter(self.embedder.embed([t for d in documents for t in self._embedded_texts(d)]))
        results = []
        for doc in documents:
            chunks = self._chunks(doc, [next(vectors) for _ in doc.pieces])
            with phase("write"):
                self._store(doc, chunks)
            results.append(IngestResult(doc_id=doc.doc_id, chunks=len(chunks), skipped=False))
        return results

    def _embedded_texts(self, doc: PreparedDocument) -> list[str]:
        """What is embedded: each chunk's text, after its context if `embed_chunk_context` (BM25 indexes the
        context either way: ragway/retriever.py, ragway/store.py)."""
        if not self.embed_context:
            return [p.text for p in doc.pieces]
        return [indexed_text(p.text, {CONTEXT_KEY: c}) for p, c in zip(doc.pieces, doc.contexts, strict=True)]

    def _store(self, doc: PreparedDocument, chunks: list[Chunk]) -> None:
        # Deterministic ids make a re-run overwrite the same rows; a shorter new version first
        # drops the chunks it no longer has (first, so the upsert's stamp covers the delete for
        # searches: ragway/freshness.py). A crash in between is repaired by the retry, because
        # `stored_version` calls a document complete only when every chunk carries one hash and
        # the expected count.
        self.store.delete_chunks_from(doc.tenant, doc.kb, doc.doc_id, len(chunks))
        for start in range(0, len(chunks), UPSERT_BATCH):
            self.store.upsert(chunks[start:start + UPSERT_BATCH])

    def ingest(self, tenant: str, kb: str, source: str, data: bytes, job_id: str = "") -> IngestResult:
        prepared = self.prepare(tenant, kb, source, data, job_id)
        return prepared if isinstance(prepared, IngestResult) else self.write([prepared])[0]

    @staticmethod
    def _chunks(doc: PreparedDocument, vectors: list[list[float]]) -> list[Chunk]:
        now_ms = int(time.time() * 1000)
        file_type = doc.source.rsplit(".", 1)[-1].lower() if "." in doc.source else ""
        return [
            Chunk(chunk_id=ids.chunk_id(doc.tenant, doc.kb, doc.doc_id, i), tenant=doc.tenant, kb=doc.kb,
                  doc_id=doc.doc_id, source=doc.source, page=p.page, chunk_index=i, content_hash=doc.content_hash,
                  text=p.text, created_at=now_ms, embedding=v,
                  metadata={"title": p.title, "file_type": file_type, "chunk_count": len(doc.pieces),
                            "job_id": doc.job_id, CONTEXT_KEY: context})
            for i, (p, v, context) in enumerate(zip(doc.pieces, vectors, doc.contexts, strict=True))
        ]
