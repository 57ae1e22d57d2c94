"""The collection schema as the real Milvus 2.3.5 server keeps it (what Attu shows): field order,
descriptions and the recorded schema version. milvus-lite drops descriptions, so this is checked here."""

import uuid

import pytest

from ragway import ids
from ragway.errors import ConfigurationError
from ragway.store import SCHEMA_TAG, SCHEMA_VERSION, ChunkStore

DIM = 8


@pytest.fixture()
def store(settings):
    s = settings.model_copy(update={"collection": f"ragway_it_schema_{uuid.uuid4().hex[:8]}"})
    st = ChunkStore(s, dim=DIM)
    st.ensure_collection()
    try:
        yield st
    finally:
        st.client.drop_collection(s.collection)


def test_server_keeps_order_descriptions_and_version(store):
    info = store.client.describe_collection(store.collection)
    names = [f["name"] for f in info["fields"]]
    assert names[:13] == ["chunk_id", "tenant", "kb", "scope", "doc_id", "source", "page", "chunk_index",
                          "content_hash", "created_at", "metadata", "text", "embedding"]
    described = {f["name"]: f.get("description", "") for f in info["fields"]}
    assert info["description"].startswith(SCHEMA_TAG)
    assert "32 hex" in described["doc_id"] and len(ids.document_id("t", "k", "s")) == 32
    assert "epoch milliseconds, UTC" in described["created_at"]
    assert store.schema_version() == SCHEMA_VERSION
    # reopening a current collection passes; another model's vectors are refused as before
    ChunkStore(store.settings, dim=DIM).ensure_collection()
    with pytest.raises(ConfigurationError, match="embeddings"):
        ChunkStore(store.settings, dim=DIM + 1).ensure_collection()


def test_settle_flushes_and_waits_until_the_index_covers_every_row(store):
    import random

    from ragway.records import Chunk
    from ragway.store import INDEX_NAME

    rnd = random.Random(5)
    chunks = [Chunk(chunk_id=f"{i:032x}", tenant="t1", kb="kb", doc_id="d" * 32, source="s.txt", page=0,
                    chunk_index=i, content_hash="h" * 16, text=f"row {i}", created_at=0,
                    embedding=[rnd.random() for _ in range(DIM)]) for i in range(3000)]
    store.upsert(chunks)
    assert store.settle(wait_s=300)
    info = store.client.describe_index(store.collection, INDEX_NAME)
    assert int(info["pending_index_rows"]) == 0 and int(info["indexed_rows"]) == 3000
