"""`ragway kb reindex` against the real Milvus 2.3.5 server: a v1-style collection (the old field order, no
recorded version) under a throwaway name is rebuilt on the current schema behind an alias. Never touches
`ragway_chunks` or `ragway_eval*`; drops everything it makes."""

import logging
import time
import uuid

import pytest
from pymilvus import DataType, MilvusClient
from typer.testing import CliRunner

from ragway import ids, reindex
from ragway.apps.cli import app
from ragway.store import SCHEMA_VERSION, ChunkStore

DIM = 8


def unit(i: int) -> list[float]:
    v = [0.0] * DIM
    v[i % DIM] = 1.0
    return v


def make_v1(client: MilvusClient, name: str, model: str, dim: int = DIM) -> None:
    """The layout of collections made before schema v2 (text and embedding first, no version tag)."""
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                   description="Ragway document chunks: one row per text chunk")
    s.add_field("chunk_id", DataType.VARCHAR, max_length=64, is_primary=True,
                description="Chunk id: sha256 of (tenant, kb, doc_id, chunk_index)")
    s.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim,
                description=f"Normalised sentence embedding of `text` by model {model} ({dim} dims); HNSW index")
    s.add_field("text", DataType.VARCHAR, max_length=65_535)
    s.add_field("tenant", DataType.VARCHAR, max_length=64, is_partition_key=True)
    s.add_field("kb", DataType.VARCHAR, max_length=128)
    s.add_field("doc_id", DataType.VARCHAR, max_length=64)
    s.add_field("source", DataType.VARCHAR, max_length=1024)
    s.add_field("page", DataType.INT64)
    s.add_field("chunk_index", DataType.INT64)
    s.add_field("content_hash", DataType.VARCHAR, max_length=64)
    s.add_field("created_at", DataType.INT64)
    s.add_field("metadata", DataType.JSON)
    index = client.prepare_index_params()
    index.add_index(field_name="embedding", index_type="HNSW", metric_type="COSINE", index_name="embedding_hnsw",
                    params={"M": 16, "efConstruction": 64})
    client.create_collection(name, schema=s, index_params=index, num_partitions=4, consistency_level="Bounded")
    client.load_collection(name)


DOCS = {("acme", "a.txt"): ["The travel policy covers trains.", "Hotels are booked by the office.",
                            "Receipts are kept for seven years."],
        ("globex", "b.txt"): ["Globex builds reactors.", "Leave is requested two weeks ahead."]}


def fill(client: MilvusClient, name: str) -> list[dict]:
    rows = []
    for (tenant, source), texts in DOCS.items():
        doc = ids.document_id(tenant, "kb", source)
        for i, t in enumerate(texts):
            rows.append({"chunk_id": ids.chunk_id(tenant, "kb", doc, i), "embedding": unit(len(rows)),
                         "text": t, "tenant": tenant, "kb": "kb", "doc_id": doc, "source": source, "page": i + 1,
                         "chunk_index": i, "content_hash": "h-" + source, "created_at": 1_764_871_200_000 + i,
                         "metadata": {"chunk_count": len(texts), "context": source, "job_id": "j1"}})
    client.insert(name, data=rows)
    return rows


def read(client: MilvusClient, name: str) -> dict[str, dict]:
    got = client.query(name, filter='chunk_id != ""', output_fields=["*"], consistency_level="Strong")
    # `scope` is what the current schema adds (checked on its own): the rest must be what was copied
    return {r["chunk_id"]: {**{k: v for k, v in r.items() if k != "scope"},
                            "embedding": [round(float(x), 5) for x in r["embedding"]]} for r in got}


@pytest.fixture()
def name(milvus):
    base = f"ragway_it_rx_{uuid.uuid4().hex[:8]}"
    yield base
    for alias in milvus.list_aliases().get("aliases") or []:
        if alias.startswith(base):
            milvus.drop_alias(alias)
    for c in milvus.list_collections():
        if c.startswith(base):
            milvus.drop_collection(c)
    assert not [c for c in milvus.list_collections() if c.startswith(base)]


def test_v1_collection_is_rebuilt_behind_an_alias(settings, milvus, name, caplog):
    settings = settings.model_copy(update={"collection": name, "num_partitions": 4})
    make_v1(milvus, name, settings.embedding_model_id)
    rows = fill(milvus, name)
    with caplog.at_level(logging.WARNING, logger="ragway.store"):
        ChunkStore(settings, dim=DIM).ensure_collection()  # an older schema still works: a warning naming the fix
    assert f"run: ragway kb reindex --collection {name}" in caplog.text

    before = read(milvus, name)
    p = reindex.plan(settings, milvus, name)
    assert (p.aliased, p.version, p.needed, p.re_embed, p.rows, p.dim) == (False, 1, True, False, len(rows), DIM)
    result = reindex.rebuild(settings, milvus, p, batch=2)
    assert result.copied == len(rows) and result.index_ready and not result.changed_after_flip
    assert milvus.describe_alias(name)["collection_name"] == result.target
    assert result.target.startswith(f"{name}_v{SCHEMA_VERSION}_") and result.previous.startswith(f"{name}_v1_")
    assert read(milvus, name) == before  # same ids, texts, metadata, tenants and vectors

    # the current schema, read through the alias: version, field order; the services' store works on it
    store = ChunkStore(settings, dim=DIM)
    store.ensure_collection()
    assert store.schema_version() == SCHEMA_VERSION
    names = [f["name"] for f in milvus.describe_collection(name)["fields"]]
    assert names[:4] == ["chunk_id", "tenant", "kb", "scope"] and names.index("embedding") > names.index("text")
    assert "scope" in result.new_fields and store.has_scope()
    scopes = milvus.query(name, filter='scope == "acme/kb"', output_fields=["tenant", "kb"], consistency_level="Strong")
    assert len(scopes) == 3 and {(r["tenant"], r["kb"]) for r in scopes} == {("acme", "kb")}
    hit = store.search("acme", "kb", unit(1), top_k=3)[0]
    assert (hit.text, hit.source, hit.metadata["job_id"]) == ("Hotels are booked by the office.", "a.txt", "j1")
    assert {h.text for h in store.search("globex", "kb", unit(3), top_k=5)} == set(DOCS[("globex", "b.txt")])
    assert store.count("acme", "kb") == 3 and store.count("globex", "kb") == 2

    # a second run has nothing to do; forced, it makes a clean new version and drops the former ones
    again = reindex.plan(settings, milvus, name)
    assert (again.aliased, again.source, again.needed) == (True, result.target, False)
    time.sleep(1.1)  # versions are named to the second
    forced = reindex.rebuild(settings, milvus, reindex.plan(settings, milvus, name, force=True), drop_old=True)
    assert forced.previous == result.target
    assert sorted(forced.dropped) == sorted([result.previous, result.target])
    assert read(milvus, name) == before and reindex.former_versions(milvus, name) == []


def test_another_model_is_re_embedded_with_the_configured_one(settings, milvus, name):
    from ragway.embedder import get_embedder

    settings = settings.model_copy(update={"collection": name, "num_partitions": 4})
    make_v1(milvus, name, "some-old-model")
    fill(milvus, name)
    with pytest.raises(Exception, match="re-embed its chunks"):
        ChunkStore(settings, dim=DIM).ensure_collection()  # another model's vectors are refused, naming the fix
    embedder = get_embedder(settings)
    p = reindex.plan(settings, milvus, name)
    assert p.needed and p.re_embed and p.model == "some-old-model"
    result = reindex.rebuild(settings, milvus, p, embedder=lambda: embedder)
    assert result.restart_services
    store = ChunkStore(settings, dim=embedder.dim)
    store.ensure_collection()  # now it records the configured model and dimension
    assert store.recorded_embedding_model() == (settings.embedding_model_id, embedder.dim)
    hits = store.search("globex", "kb", embedder.embed_query("When must leave be requested?"), top_k=2)
    assert hits[0].text == "Leave is requested two weeks ahead."
    assert store.count("acme", "kb") == 3


def test_a_write_during_the_copy_refuses_the_switch(settings, milvus, name):
    settings = settings.model_copy(update={"collection": name, "num_partitions": 4})
    make_v1(milvus, name, settings.embedding_model_id)
    fill(milvus, name)

    class Intruder:
        def start(self, total):
            pass

        def advance(self, n):
            milvus.insert(name, data=[{**fill_row(), "chunk_id": uuid.uuid4().hex}])

    with pytest.raises(reindex.ReindexError, match="changed during the copy"):
        reindex.rebuild(settings, milvus, reindex.plan(settings, milvus, name), batch=2, progress=Intruder())
    assert name not in (milvus.list_aliases().get("aliases") or [])
    assert [c for c in milvus.list_collections() if c.startswith(name)] == [name]  # the copy is gone


def fill_row() -> dict:
    return {"embedding": unit(0), "text": "late", "tenant": "acme", "kb": "kb", "doc_id": "d", "source": "late.txt",
            "page": 0, "chunk_index": 0, "content_hash": "h", "created_at": 0, "metadata": {}}


def test_the_command(settings, milvus, name, monkeypatch):
    make_v1(milvus, name, settings.embedding_model_id)
    fill(milvus, name)
    monkeypatch.setenv("RAGWAY_NUM_PARTITIONS", "4")
    runner = CliRunner()
    dry = runner.invoke(app, ["kb", "reindex", "--collection", name, "--dry-run"])
    assert dry.exit_code == 0 and "schema v1" in dry.output and "would copy 5 rows" in dry.output
    assert name not in (milvus.list_aliases().get("aliases") or [])
    done = runner.invoke(app, ["kb", "reindex", "--collection", name, "--batch", "2"])
    assert done.exit_code == 0, done.output
    target = milvus.describe_alias(name)["collection_name"]
    assert f"-> {target}: 5 rows" in done.output and "--drop-old" in done.output
    assert len(read(milvus, name)) == 5
    cleanup = runner.invoke(app, ["kb", "reindex", "--collection", name, "--drop-old"])
    assert cleanup.exit_code == 0 and "nothing to rebuild" in cleanup.output and "dropped" in cleanup.output
    assert [c for c in milvus.list_collections() if c.startswith(name)] == [target]
