"""`Ingestor.write`: several documents' chunks embedded together in whole batches, each document stored
on a writer thread while the next slice is embedded, in order, and the first failure stops the rest.
`Ingestor.look_up`: a batch's "already stored?" queries at once, each answer (or error) taken by its file."""

from __future__ import annotations

import threading

import pytest

from ragway import timing
from ragway.ingest import Ingestor, PreparedDocument, VectorCache
from ragway.settings import Settings
from ragway.splitter import Splitter, TextPiece


class FakeEmbedder:
    batch_size = 4
    dim = 3

    def __init__(self, before_call=None):
        self.calls: list[int] = []
        self.before_call = before_call

    def embed(self, texts):
        if self.before_call is not None:
            self.before_call(len(self.calls))
        self.calls.append(len(texts))
        return [[float(len(t)), 0.0, 1.0] for t in texts]


class FakeStore:
    def __init__(self, fail_on: str = ""):
        self.settings = Settings()
        self.fail_on = fail_on
        self.written: list[str] = []  # doc sources, in the order stored
        self.rows: dict[str, list] = {}
        self.stored = threading.Event()  # set after each document's upsert
        self.threads: set[str] = set()
        self.versions: dict = {}

    def stored_version(self, tenant, doc_id):
        return self.versions.get(doc_id)

    def delete_chunks_from(self, tenant, kb, doc_id, first_stale_index):
        self.threads.add(threading.current_thread().name)

    def upsert(self, chunks):
        source = chunks[0].source
        if source == self.fail_on:
            raise RuntimeError(f"milvus refused {source}")
        self.rows.setdefault(source, []).extend(chunks)
        self.written.append(source)
        self.stored.set()
        return len(chunks)


def doc(name: str, n: int) -> PreparedDocument:
    pieces = [TextPiece(text=f"{name} piece {i} " + "x" * i, page=0, title="") for i in range(n)]
    return PreparedDocument("t1", "kb", name, f"doc-{name}", "hash", pieces, job_id="job-1")


def ingestor(embedder, store) -> Ingestor:
    return Ingestor(Splitter(Settings()), embedder, store)


def test_documents_are_embedded_together_in_whole_batches_and_stored_in_order():
    store, embedder = FakeStore(), FakeEmbedder()
    docs = [doc("a.txt", 3), doc("b.txt", 20), doc("c.txt", 1), doc("d.txt", 50), doc("e.txt", 2)]
    ing = ingestor(embedder, store)
    with timing.collect() as phases:
        results = ing.write(docs)
    slice_ = 8 * FakeEmbedder.batch_size
    assert embedder.calls == [slice_, slice_, 76 - 2 * slice_]  # 76 chunks, never one call per small file
    assert [(r.doc_id, r.chunks, r.skipped) for r in results] == [(d.doc_id, len(d.pieces), False) for d in docs]
    assert store.written == [d.source for d in docs]
    for d in docs:  # each chunk got its own text's vector, in its document's order
        rows = store.rows[d.source]
        assert [c.chunk_index for c in rows] == list(range(len(d.pieces)))
        assert [c.embedding[0] for c in rows] == [float(len(p.text)) for p in d.pieces]
        assert all(c.metadata["chunk_count"] == len(d.pieces) for c in rows)
    assert store.threads == {"ingest-writer"}
    assert phases["embed"] > 0 and phases["write"] > 0  # the writer's time counts in the batch's phases
    assert not [t for t in threading.enumerate() if t.name == "ingest-writer"]


def test_a_document_is_stored_while_the_next_slice_is_embedded():
    store = FakeStore()

    def before_call(call: int) -> None:
        if call == 1:  # the second slice waits for the first document's write: no overlap, no progress
            assert store.stored.wait(10), "nothing was stored while embedding went on"

    embedder = FakeEmbedder(before_call)
    results = ingestor(embedder, store).write([doc("a.txt", 5), doc("b.txt", 60)])
    assert [r.chunks for r in results] == [5, 60]
    assert store.written == ["a.txt", "b.txt"]


def test_the_first_failed_write_stops_the_rest_and_is_raised():
    store, embedder = FakeStore(fail_on="b.txt"), FakeEmbedder()
    docs = [doc("a.txt", 40), doc("b.txt", 40), doc("c.txt", 40), doc("d.txt", 40)]
    with pytest.raises(RuntimeError, match="milvus refused b.txt"):
        ingestor(embedder, store).write(docs)
    assert store.written == ["a.txt"]
    assert not [t for t in threading.enumerate() if t.name == "ingest-writer"]


def test_an_embedding_failure_writes_nothing_after_it():
    store = FakeStore()

    def before_call(call: int) -> None:
        if call == 2:
            raise RuntimeError("embedder out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        ingestor(FakeEmbedder(before_call), store).write([doc("a.txt", 10), doc("b.txt", 60), doc("c.txt", 30)])
    assert store.written in ([], ["a.txt"])  # a.txt perhaps (it was queued); b.txt's vectors were never complete
    assert not [t for t in threading.enumerate() if t.name == "ingest-writer"]


def test_a_batchs_lookups_run_at_once_and_each_file_gets_its_own_answer():
    from ragway import ids
    from ragway.store import StoredVersion

    data = b"The warehouse shipped forty pallets in week two.\n\nThe depot closed early."
    store = FakeStore()
    all_waiting = threading.Barrier(3, timeout=10)  # three queries in flight together, or a BrokenBarrierError
    stored_doc = ids.document_id("t1", "kb", "old.txt")
    store.versions[stored_doc] = StoredVersion(ids.content_hash(data), 2, 2, "job-0")

    def stored_version(tenant, doc_id):
        all_waiting.wait()
        if doc_id == ids.document_id("t1", "kb", "broken.txt"):
            raise RuntimeError("query failed")
        return store.versions.get(doc_id)

    store.stored_version = stored_version
    ing = ingestor(FakeEmbedder(), store)
    looked_up = ing.look_up("t1", "kb", ["old.txt", "new.txt", "broken.txt"])
    skipped = ing.prepare("t1", "kb", "old.txt", data, "job-1", looked_up=looked_up["old.txt"])
    assert (skipped.doc_id, skipped.chunks, skipped.skipped) == (stored_doc, 2, True)
    fresh = ing.prepare("t1", "kb", "new.txt", data, "job-1", looked_up=looked_up["new.txt"])
    assert isinstance(fresh, PreparedDocument) and fresh.pieces
    with pytest.raises(RuntimeError, match="query failed"):
        ing.prepare("t1", "kb", "broken.txt", data, "job-1", looked_up=looked_up["broken.txt"])


def copy_of(document: PreparedDocument, name: str) -> PreparedDocument:
    """The same text under another file name (a table saved as CSV and as XLSX)."""
    return PreparedDocument("t1", "kb", name, f"doc-{name}", "hash", document.pieces, job_id="job-1")


def test_a_text_is_encoded_once_per_process_and_each_copy_gets_its_vector():
    store, embedder = FakeStore(), FakeEmbedder()
    original = doc("table.csv", 6)
    ing = ingestor(embedder, store)
    ing.write([original, copy_of(original, "table.xlsx")])
    assert embedder.calls == [6]  # the copy's chunks were not encoded again
    ing.write([copy_of(original, "table-final.csv"), doc("other.txt", 2)])
    assert embedder.calls == [6, 2]  # a later batch takes the kept vectors: only the new file is encoded
    expected = [float(len(p.text)) for p in original.pieces]
    for name in ("table.csv", "table.xlsx", "table-final.csv"):
        assert [c.embedding[0] for c in store.rows[name]] == expected


def test_the_cache_keeps_the_most_recently_used_vectors_and_can_be_turned_off():
    cache = VectorCache(capacity=2)
    a, b, c = (VectorCache.key(t) for t in ("a", "b", "c"))
    cache.put(a, [0.5, 1.0])
    cache.put(b, [0.25, 1.0])
    assert cache.get(a) == [0.5, 1.0]  # a is now the most recent
    cache.put(c, [0.125, 1.0])
    assert cache.get(b) is None and cache.get(a) == [0.5, 1.0] and cache.get(c) == [0.125, 1.0]

    store, embedder = FakeStore(), FakeEmbedder()
    store.settings = Settings(embedding_cache_chunks=0)
    ing = ingestor(embedder, store)
    ing.write([doc("a.txt", 3)])
    ing.write([copy_of(doc("a.txt", 3), "b.txt")])
    assert embedder.calls == [3, 3]
