"""`ragway kb reindex` (ragway/reindex.py) on milvus-lite: aliases, copy, verification, re-embedding.
milvus-lite keeps no descriptions, so every collection reads as schema v1 here and each run rebuilds;
the version check itself is tested against the real server in tests/integration/test_reindex.py."""

import time

import pytest
from pymilvus import MilvusClient

from ragway import ids, reindex
from ragway.records import Chunk
from ragway.settings import Settings
from ragway.store import SCHEMA_VERSION, ChunkStore

DIM = 8
NAME = "unit_rx"


def unit(i: int, dim: int = DIM) -> list[float]:
    v = [0.0] * dim
    v[i % dim] = 1.0
    return v


def chunks(tenant, kb, source, texts):
    doc = ids.document_id(tenant, kb, source)
    return [Chunk(chunk_id=ids.chunk_id(tenant, kb, doc, i), tenant=tenant, kb=kb, doc_id=doc, source=source,
                  page=i + 1, chunk_index=i, content_hash="h-" + source, text=t, created_at=1_700_000_000_000 + i,
                  metadata={"chunk_count": len(texts), "context": "ctx " + source, "title": "T"},
                  embedding=unit(i))
            for i, t in enumerate(texts)]


class FakeEmbedder:
    """A different 'model': 4 dims, the vector chosen by the text's length (so it can be checked)."""

    dim = 4
    model_name = "fake"

    def __init__(self):
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen += texts
        return [unit(len(t), self.dim) for t in texts]


class Ticks:
    """A clock one second apart per call, so two rebuilds in one test get distinct names."""

    def __init__(self):
        self.t = time.time()

    def __call__(self):
        self.t += 1
        return self.t


@pytest.fixture()
def env(tmp_path):
    settings = Settings(collection=NAME, num_partitions=4)
    client = MilvusClient(str(tmp_path / "lite.db"))
    store = ChunkStore(settings, dim=DIM, client=client)
    store.ensure_collection()
    store.upsert(chunks("t1", "kb", "a.txt", ["alpha", "beta", "gamma"]))
    store.upsert(chunks("t2", "kb", "b.txt", ["other tenant"]))
    return settings, client


def rows(client, name):
    got = client.query(name, filter="", output_fields=["chunk_id", "tenant", "kb", "doc_id", "source", "page",
                                                       "chunk_index", "content_hash", "created_at", "metadata",
                                                       "text", "embedding"], consistency_level="Strong")
    return {r["chunk_id"]: {**r, "embedding": [round(float(x), 5) for x in r["embedding"]]} for r in got}


def test_first_rebuild_turns_the_name_into_an_alias_and_keeps_every_row(env):
    settings, client = env
    before = rows(client, NAME)
    p = reindex.plan(settings, client, NAME)
    assert (p.source, p.aliased, p.needed, p.re_embed, p.rows, p.dim) == (NAME, False, True, False, 4, DIM)

    class Bar:
        total, done = None, 0

        def start(self, total):
            self.total = total

        def advance(self, n):
            self.done += n

    bar = Bar()
    result = reindex.rebuild(settings, client, p, batch=2, progress=bar, clock=Ticks())
    assert (bar.total, bar.done, result.copied) == (4, 4, 4)
    assert client.describe_alias(NAME)["collection_name"] == result.target
    assert result.target.startswith(f"{NAME}_v{SCHEMA_VERSION}_") and result.previous.startswith(f"{NAME}_v1_")
    assert rows(client, NAME) == before  # ids, texts, metadata, tenant, vectors: all kept
    # the service's store works through the alias: search, count, write
    store = ChunkStore(settings, dim=DIM, client=client)
    store.ensure_collection()
    assert [h.text for h in store.search("t1", "kb", unit(1), top_k=3)][0] == "beta"
    assert store.count("t2", "kb") == 1
    store.upsert(chunks("t2", "kb", "c.txt", ["new after flip"]))
    assert client.query(result.target, filter='source == "c.txt"', output_fields=["text"],
                        consistency_level="Strong")[0]["text"] == "new after flip"
    assert reindex.former_versions(client, NAME) == [result.previous]


def test_second_rebuild_is_a_clean_new_version_and_drop_old_removes_the_former(env):
    settings, client = env
    clock = Ticks()
    first = reindex.rebuild(settings, client, reindex.plan(settings, client, NAME), clock=clock)
    p = reindex.plan(settings, client, NAME)
    assert (p.source, p.aliased) == (first.target, True)
    second = reindex.rebuild(settings, client, p, drop_old=True, clock=clock)
    assert second.previous == first.target and second.target != first.target
    assert sorted(second.dropped) == sorted([first.previous, first.target])
    assert client.describe_alias(NAME)["collection_name"] == second.target
    assert reindex.former_versions(client, NAME) == []
    assert len(rows(client, NAME)) == 4


def test_re_embed_changes_the_dimension_and_embeds_the_text(env):
    settings, client = env
    fake = FakeEmbedder()
    p = reindex.plan(settings, client, NAME, current_dim=lambda: fake.dim)
    assert p.needed and p.re_embed  # no model recorded on milvus-lite: the dimension tells
    result = reindex.rebuild(settings, client, p, embedder=lambda: fake, clock=Ticks())
    got = rows(client, NAME)
    assert sorted(fake.seen) == sorted(r["text"] for r in got.values())  # context not embedded by default
    assert all(r["embedding"] == unit(len(r["text"]), 4) for r in got.values())
    store = ChunkStore(settings, dim=4, client=client)
    store.ensure_collection()
    assert store.search("t1", "kb", unit(len("gamma"), 4), top_k=1)[0].text == "gamma"
    assert result.copied == 4


def test_re_embed_with_chunk_context_embeds_what_ingestion_embeds(env):
    settings, client = env
    settings = settings.model_copy(update={"embed_chunk_context": True})
    fake = FakeEmbedder()
    reindex.rebuild(settings, client, reindex.plan(settings, client, NAME, re_embed=True),
                    embedder=lambda: fake, clock=Ticks())
    assert "ctx a.txt\nalpha" in fake.seen and "alpha" not in fake.seen


def test_re_embedding_for_every_chunk_records_each_chunks_script(env):
    settings, client = env
    ChunkStore(settings, dim=DIM, client=client).upsert(chunks("t1", "kb", "z.txt", ["年假为十五天"]))
    every_chunk = settings.model_copy(update={"multilingual_chunks": "all"})
    reindex.rebuild(every_chunk, client, reindex.plan(every_chunk, client, NAME, re_embed=True),
                    embedder=lambda: FakeEmbedder(), clock=Ticks())
    scripts = {r["text"]: r["metadata"].get("cjk_text") for r in rows(client, NAME).values()}
    assert scripts == {"alpha": False, "beta": False, "gamma": False, "other tenant": False, "年假为十五天": True}


def test_a_write_during_the_copy_refuses_the_flip_and_leaves_the_name_alone(env):
    settings, client = env
    p = reindex.plan(settings, client, NAME)

    class Intruder:
        def start(self, total):
            pass

        def advance(self, n):
            client.insert(NAME, data=[ChunkStore(settings, dim=DIM, client=client)._row(
                chunks("t1", "kb", "late.txt", [f"late {time.time()}"])[0])])

    with pytest.raises(reindex.ReindexError, match="changed during the copy"):
        reindex.rebuild(settings, client, p, batch=2, progress=Intruder(), clock=Ticks())
    assert client.list_aliases().get("aliases") in ([], None)
    assert client.has_collection(NAME) and reindex.former_versions(client, NAME) == []  # the new one is gone


def test_nothing_to_rebuild_for_an_unknown_name(env):
    settings, client = env
    with pytest.raises(reindex.ReindexError, match="nothing to rebuild"):
        reindex.plan(settings, client, "no_such_collection")


def test_a_failed_alias_creation_renames_the_old_collection_back(env, monkeypatch):
    from pymilvus.exceptions import MilvusException

    settings, client = env
    before = rows(client, NAME)

    def refuse(collection_name, alias, **kwargs):
        raise MilvusException(message="alias and collection name conflict")

    monkeypatch.setattr(client, "create_alias", refuse)
    with pytest.raises(reindex.ReindexError, match="could not create the alias"):
        reindex.rebuild(settings, client, reindex.plan(settings, client, NAME), clock=Ticks())
    assert client.list_aliases().get("aliases") in ([], None)
    assert [c for c in client.list_collections() if c.startswith(NAME)] == [NAME]  # renamed back, copy dropped
    assert rows(client, NAME) == before
