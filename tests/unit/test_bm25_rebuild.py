"""The in-process BM25 cache never makes a search wait for a rebuild: after a kb changes, searches
keep the previous index while one background rebuild runs, and use the new one once it is swapped
in. Builders here block on events (no sleeps): a search that waited for the rebuild would block."""

import threading

import pytest
from pymilvus import MilvusClient

from ragway.lexical import Bm25Cache, Bm25Index, Tokenizer
from ragway.retriever import Retriever
from ragway.settings import Settings
from ragway.store import ChunkStore
from tests.unit.test_retriever import DIM, FakeEmbedder, chunks_of

KEY = ("coll", "t1", "kb")


def index(fingerprint: str, **texts: str) -> Bm25Index:
    return Bm25Index(list(texts), list(texts.values()), Tokenizer(), fingerprint=fingerprint)


def must_not_build():
    raise AssertionError("a second build of the same kb was started")


def test_search_during_rebuild_uses_old_index_without_waiting_then_the_new_one():
    cache = Bm25Cache()
    old = cache.get(KEY, "f1", lambda: index("f1", a="alpha zebrafish"))
    started, release = threading.Event(), threading.Event()

    def slow_build():
        started.set()
        assert release.wait(30), "the test never released the rebuild"
        return index("f2", b="beta heart")

    # The kb changed: the search gets the old index at once, while the rebuild is held by `release`.
    during = cache.get(KEY, "f2", slow_build)
    assert during is old and not release.is_set()
    assert started.wait(10) and cache.rebuilding(KEY)
    assert [h.chunk_id for h in during.search("zebrafish", 3)] == ["a"]
    # More searches meanwhile: still the old index, and no second rebuild of the kb.
    assert cache.get(KEY, "f2", must_not_build) is old
    assert not cache.wait(KEY, timeout=0.01)  # still running: it waits for `release`

    release.set()
    assert cache.wait(KEY, timeout=30)
    new = cache.get(KEY, "f2", must_not_build)
    assert new is not old and new.fingerprint == "f2" and not cache.rebuilding(KEY)
    assert [h.chunk_id for h in new.search("heart", 3)] == ["b"]
    assert new.search("zebrafish", 3) == []
    assert cache.build_seconds[KEY] >= 0


def test_first_build_is_done_once_while_other_first_callers_wait():
    cache = Bm25Cache()
    started, release = threading.Event(), threading.Event()
    calls = []

    def first_build():
        calls.append("first")
        started.set()
        assert release.wait(30)
        return index("f1", a="alpha")

    results = {}
    a = threading.Thread(target=lambda: results.setdefault("a", cache.get(KEY, "f1", first_build)))
    a.start()
    assert started.wait(10)
    b = threading.Thread(target=lambda: results.setdefault("b", cache.get(KEY, "f1", must_not_build)))
    b.start()
    release.set()
    a.join(30)
    b.join(30)
    assert calls == ["first"] and results["a"] is results["b"]


def test_failed_rebuild_keeps_the_old_index_and_the_next_change_retries():
    cache = Bm25Cache()
    old = cache.get(KEY, "f1", lambda: index("f1", a="alpha"))

    def broken():
        raise RuntimeError("milvus went away")

    assert cache.get(KEY, "f2", broken) is old
    assert cache.wait(KEY, timeout=30) and not cache.rebuilding(KEY)
    assert cache.get(KEY, "f2", lambda: index("f2", b="beta")) is old  # starts a new rebuild
    assert cache.wait(KEY, timeout=30)
    assert cache.get(KEY, "f2", must_not_build).fingerprint == "f2"


def test_retriever_serves_the_old_index_during_a_rebuild_and_finds_new_chunks_after_it(tmp_path):
    settings = Settings(collection="unit_rebuild", num_partitions=4, lexical_backend="memory",
                        bm25_check_interval_s=0.0, hybrid_fetch_k=3)
    store = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    store.upsert(chunks_of("t1", "kb", "fish.txt", ["The zebrafish kinase ZX-417 controls fin growth."]))
    retriever = Retriever(settings, FakeEmbedder(), store)
    assert [h.source for h in retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 5, mode="bm25")] == [
        "fish.txt"]
    key = (store.collection, "t1", "kb")

    release = threading.Event()
    build = retriever._build

    def held_build(*args):
        assert release.wait(30)
        return build(*args)

    retriever._build = held_build
    store.upsert(chunks_of("t1", "kb", "hr.txt", ["ZX-417 heart regeneration"]))
    during = retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 5, mode="bm25")
    assert [h.source for h in during] == ["fish.txt"] and retriever.cache.rebuilding(key)
    release.set()
    assert retriever.cache.wait(key, timeout=60)
    after = retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 5, mode="bm25")
    assert after[0].source == "hr.txt"


@pytest.fixture(autouse=True)
def _no_leftover_threads():
    yield
    for t in threading.enumerate():
        if t.name.startswith("bm25-rebuild-"):
            t.join(30)


def test_the_least_recently_searched_kb_is_dropped_first():
    cache = Bm25Cache(max_kbs=2)
    a, b, c = ("coll", "t1", "a"), ("coll", "t1", "b"), ("coll", "t1", "c")
    first_a = cache.get(a, "f", lambda: index("f", x="alpha"))
    cache.get(b, "f", lambda: index("f", y="beta"))
    assert cache.get(a, "f", must_not_build) is first_a  # a searched again: b is now the least recent
    cache.get(c, "f", lambda: index("f", z="gamma"))  # a third kb: b's index goes, a's stays
    assert cache.get(a, "f", must_not_build) is first_a
    rebuilt = []
    cache.get(b, "f", lambda: rebuilt.append(1) or index("f", y="beta"))
    assert rebuilt == [1]
