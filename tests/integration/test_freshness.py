"""Read-your-writes with `search_consistency = "LastWrite"` against the real Milvus 2.3.5 and Redis:
one store writes (as an ingest worker does), another (its own Milvus connection, as a gateway
replica) searches right after, through the write stamp recorded in Redis. Own collection."""

import asyncio
import time
import uuid
from dataclasses import replace

import pytest
from pymilvus import MilvusClient

from ragway import ids
from ragway.errors import DependencyUnavailable
from ragway.freshness import WriteMarks, covering_ts, physical_ms
from ragway.records import Chunk
from ragway.redis_client import connect, connect_async
from ragway.store import ChunkStore

DIM = 8


def _vector(i: int) -> list[float]:
    v = [0.0] * DIM
    v[i % DIM], v[(i + 1) % DIM] = 1.0, 0.5
    return v


def _chunk(tenant: str, kb: str, n: int) -> Chunk:
    source = f"doc-{n}.txt"
    doc = ids.document_id(tenant, kb, source)
    return Chunk(chunk_id=ids.chunk_id(tenant, kb, doc, 0), tenant=tenant, kb=kb, doc_id=doc, source=source, page=0,
                 chunk_index=0, content_hash="h", text=f"text {n}", created_at=int(time.time() * 1000),
                 metadata={"chunk_count": 1}, embedding=_vector(n))


@pytest.fixture(scope="module")
def stores(settings):
    s = settings.model_copy(update={"collection": f"ragway_it_fresh_{uuid.uuid4().hex[:8]}",
                                    "search_consistency": "LastWrite"})
    marks = WriteMarks(connect(s.effective_redis_url))
    writer = ChunkStore(s, dim=DIM, write_marks=marks)
    writer.ensure_collection()
    reader = ChunkStore(s, dim=DIM, client=MilvusClient(uri=s.milvus_uri), write_marks=marks)
    try:
        yield writer, reader
    finally:
        writer.client.drop_collection(s.collection)
        marks.r.delete(marks._key(s.collection))


def test_stamp_arithmetic():
    ts = (1_763_000_000_123 << 18) | 4711
    assert physical_ms(ts) == 1_763_000_000_123
    assert covering_ts(physical_ms(ts)) >= ts and physical_ms(covering_ts(physical_ms(ts))) == physical_ms(ts)


def test_unwritten_kb_is_searched_strong(stores):
    _, reader = stores
    assert reader.consistency_for("t1", "never-written") == {"consistency_level": "Strong"}


def test_every_write_is_seen_by_another_connection_at_once(stores):
    writer, reader = stores
    for n in range(12):
        writer.upsert([_chunk("t1", "fresh", n)])
        args = reader.consistency_for("t1", "fresh")
        assert args["consistency_level"] == "Customized" and args["guarantee_timestamp"] > 0
        hits = reader.search("t1", "fresh", _vector(n), top_k=50)
        assert f"doc-{n}.txt" in {h.source for h in hits}, n
    # Another kb's stamp is its own.
    assert reader.consistency_for("t1", "other") == {"consistency_level": "Strong"}


def test_a_delete_is_seen_at_once_through_its_strong_window(stores):
    writer, reader = stores
    writer.upsert([_chunk("t1", "gone", n) for n in range(4)])
    assert reader.consistency_for("t1", "gone")["consistency_level"] == "Customized"
    writer.delete_document("t1", "gone", ids.document_id("t1", "gone", "doc-3.txt"))
    # Milvus 2.3.5 gives deletes no stamp: the kb is searched Strong for a while.
    assert reader.consistency_for("t1", "gone") == {"consistency_level": "Strong"}
    assert {h.source for h in reader.search("t1", "gone", _vector(3), top_k=50)} == {
        "doc-0.txt", "doc-1.txt", "doc-2.txt"}


def test_stale_chunks_dropped_before_an_upsert_are_covered_by_its_stamp(stores):
    writer, reader = stores
    chunks = [_chunk("t1", "shrink", n) for n in range(3)]
    long_version = [replace(c, doc_id="d", chunk_id=f"d-{i}", chunk_index=i) for i, c in enumerate(chunks)]
    writer.upsert(long_version)
    writer.delete_chunks_from("t1", "shrink", "d", 1)  # the new version has one chunk
    writer.upsert(long_version[:1])
    assert reader.consistency_for("t1", "shrink")["consistency_level"] == "Customized"
    assert [h.chunk_id for h in reader.search("t1", "shrink", _vector(1), top_k=50)] == ["d-0"]


def test_a_stamp_read_ahead_on_the_event_loop_serves_the_searching_thread(stores, settings):
    writer, reader = stores
    writer.upsert([_chunk("t1", "ahead", 5)])
    expected = reader.consistency_for("t1", "ahead")
    # The thread's own (sync) Redis client points at a closed port: only the read-ahead can answer.
    nowhere = connect("redis://127.0.0.1:9/0")
    marks = WriteMarks(nowhere, async_client=connect_async(settings.effective_redis_url))
    store = ChunkStore(reader.settings, dim=DIM, client=reader.client, write_marks=marks)

    async def search_from_the_loop():
        with store.reading_ahead("t1", "ahead"):
            args = await asyncio.to_thread(store.consistency_for, "t1", "ahead")
            hits = await asyncio.to_thread(store.search, "t1", "ahead", _vector(5), 5)
        return args, hits

    args, hits = asyncio.run(search_from_the_loop())
    assert args == expected and args["consistency_level"] == "Customized"
    assert [h.source for h in hits] == ["doc-5.txt"]
    # Outside the block, and for another kb inside it, the thread reads for itself.
    with pytest.raises(DependencyUnavailable):
        store.consistency_for("t1", "ahead")

    async def another_kb():
        with store.reading_ahead("t1", "ahead"):
            await asyncio.to_thread(store.consistency_for, "t1", "other")

    with pytest.raises(DependencyUnavailable):
        asyncio.run(another_kb())
