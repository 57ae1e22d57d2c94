"""Documents in, chunks stored: load -> split -> embed -> upsert, idempotently.

`look_up` starts a batch's "already stored?" queries at once; `prepare` parses one file; `write` embeds
the chunks of several prepared files together (small files alone would leave the embedder's batches
half empty) and stores each document on a writer thread while the next chunks are embedded."""

from __future__ import annotations

import contextvars
import hashlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ragway import ids, loader
from ragway.chunk_index import ChunkIndex
from ragway.embedder import Embedder, embed_chunks
from ragway.errors import DocumentError
from ragway.records import CONTEXT_KEY, Chunk, chunk_context, document_name, indexed_text
from ragway.splitter import Splitter, TextPiece
from ragway.store import StoredVersion
from ragway.timing import phase

UPSERT_BATCH = 512
EMBED_SLICE_BATCHES = 8  # embedding batches per embed call in `Ingestor.write` (32 x 8 = 256 chunks)
LOOK_UP_THREADS = 8  # "already stored?" queries of a batch at once (settings.ingest_batch_files: 8)
WRITE_QUEUE = 2  # documents embedded ahead of the writer at most (their vectors wait in memory)


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


class VectorCache:
    """Recently embedded passages' vectors by their text's digest, least recently used out first; safe across
    threads. Vectors are kept as float32 (what the models give), so a cached one equals a fresh one."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str, own: str | None = None) -> bytes:
        """A chunk's key: what is embedded and, where that holds its context too, the chunk's own text."""
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
        if own is not None and own != text:
            digest.update(b"\x00" + own.encode("utf-8", "surrogatepass"))
        return digest.digest()

    def get(self, key: bytes) -> list[float] | None:
        with self._lock:
            vector = self._vectors.get(key)
            if vector is None:
                return None
            self._vectors.move_to_end(key)
        return vector.tolist()

    def put(self, key: bytes, vector: list[float]) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._vectors[key] = np.asarray(vector, dtype=np.float32)
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)


class Ingestor:
    def __init__(self, splitter: Splitter, embedder: Embedder, store: ChunkIndex):
        self.splitter = splitter
        self.embedder = embedder
        self.store = store
        self.max_chunks = store.settings.max_document_chunks
        self.embed_context = store.settings.embed_chunk_context
        self.vectors = VectorCache(store.settings.embedding_cache_chunks)
        self._pool: ThreadPoolExecutor | None = None

    def look_up(self, tenant: str, kb: str, sources: list[str]) -> dict[str, Future[StoredVersion | None]]:
        """Start the "already stored?" queries of a batch's files at once, for `prepare`: each is a
        consistent (Strong) read that waits on Milvus, so together they wait about as long as one."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=LOOK_UP_THREADS, thread_name_prefix="ingest-check")
        return {source: self._pool.submit(self.store.stored_version, tenant, ids.document_id(tenant, kb, source))
                for source in dict.fromkeys(sources)}

    def prepare(self, tenant: str, kb: str, source: str, data: bytes, job_id: str = "",
                looked_up: Future[StoredVersion | None] | None = None) -> PreparedDocument | IngestResult:
        """Parse and split a file, or an `IngestResult` when it is stored unchanged: skipped, or
        done when this very job stored it (a retry after the worker died before recording that).
        `looked_up`: its `stored_version` query, started by `look_up` (its error is raised here)."""
        doc_id = ids.document_id(tenant, kb, source)
        digest = ids.content_hash(data)
        with phase("check"):
            stored = self.store.stored_version(tenant, doc_id) if looked_up is None else looked_up.result()
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
        title = document_name(source, loader.document_title(source, data, sections))
        return PreparedDocument(tenant, kb, source, doc_id, digest, pieces, job_id, title)

    def _check_size(self, source: str, chunks: int) -> None:
        """Before embedding: a document is embedded within one task, so its size is bounded to fit
        the task's time limit (settings.max_document_chunks)."""
        if chunks > self.max_chunks:
            raise DocumentError(source, f"{chunks:,} chunks; the limit is {self.max_chunks:,} per document "
                                        "(RAGWAY_MAX_DOCUMENT_CHUNKS): split the file into smaller files")

    def write(self, documents: list[PreparedDocument]) -> list[IngestResult]:
        """Embed the documents' chunks together, in slices of full embedding batches, and store each
        document as soon as its vectors are in, on a writer thread while the next slice is embedded
        (a Milvus write is mostly waiting). Documents are stored in order, one at a time; the first
        write that fails stops the rest and is raised here, after the writer has stopped, so no write
        goes on behind the caller's back."""
        texts = [t for d in documents for t in self._embedded_texts(d)]
        own = [p.text for d in documents for p in d.pieces]
        results, vectors, pending = [], [], list(documents)
        with _Writer(self._store) as writer:
            for start in range(0, len(texts), self.embed_slice):
                writer.check()
                vectors += self._embed(texts[start:start + self.embed_slice], own[start:start + self.embed_slice])
                while pending and len(vectors) >= len(pending[0].pieces):
                    doc = pending.pop(0)
                    chunks = self._chunks(doc, vectors[:len(doc.pieces)])
                    del vectors[:len(doc.pieces)]
                    writer.put(doc, chunks)
                    results.append(IngestResult(doc_id=doc.doc_id, chunks=len(chunks), skipped=False))
        return results

    def _embed(self, texts: Sequence[str], own: Sequence[str]) -> list[list[float]]:
        """Each distinct text encoded once: a repeat, or a text this process embedded lately, comes from the
        cache (a corpus holds the same table as CSV and XLSX, or one file under two names). `own`: the chunks'
        own texts, where `texts` carry their context too (`embed_chunks`)."""
        keys = [VectorCache.key(t, o) for t, o in zip(texts, own, strict=True)]
        known = {k: v for k in set(keys) if (v := self.vectors.get(k)) is not None}
        todo = {k: (t, o) for k, t, o in zip(keys, texts, own, strict=True) if k not in known}
        if todo:
            with phase("embed"):
                fresh = embed_chunks(self.embedder, [t for t, _ in todo.values()], [o for _, o in todo.values()])
            for k, v in zip(todo, fresh, strict=True):
                known[k] = v
                self.vectors.put(k, v)
        return [known[k] for k in keys]

    @property
    def embed_slice(self) -> int:
        """Chunks embedded per call: whole batches of the embedder, and enough of them that the
        per-call overhead is small."""
        return EMBED_SLICE_BATCHES * max(1, int(getattr(self.embedder, "batch_size", 32)))

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


class _Writer:
    """One thread that stores documents in the order given, fed through a bounded queue (so
    embedding runs at most `WRITE_QUEUE` documents ahead). It runs in the caller's context, so its
    time is summed as the "write" phase of the same batch. The first error stops it: `check` and
    `put` raise it in the caller, and leaving the block waits for the thread and raises it too."""

    _DONE = object()

    def __init__(self, store: Callable[[PreparedDocument, list[Chunk]], None]):
        self.store = store
        self.queue: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._run,), name="ingest-writer", daemon=True)

    def __enter__(self) -> _Writer:
        self.thread.start()
        return self

    def _run(self) -> None:
        while (item := self.queue.get()) is not self._DONE:
            if self.stop.is_set():
                continue  # the caller gave up: drain without writing
            try:
                with phase("write"):
                    self.store(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.error = exc
                self.stop.set()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, doc: PreparedDocument, chunks: list[Chunk]) -> None:
        while True:
            self.check()
            try:
                self.queue.put((doc, chunks), timeout=0.1)
                return
            except queue.Full:
                continue

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self.stop.set()  # the caller failed: write nothing more
        self.queue.put(self._DONE)  # never blocks for long: the thread drains the queue whatever happens
        self.thread.join()
        if exc is None:
            self.check()
