"""Retrieval modes without services: fusion and MMR by hand, the tokenizer, and the Retriever on
milvus-lite both ways: native BM25 (milvus-lite has the BM25 function, sparse vectors and
hybrid_search, like Milvus >= 2.5) and the in-process index (the path used with Milvus 2.3.5,
tested against the real server in tests/integration/test_retrieval_modes.py)."""

import time

import numpy as np
import pytest
from pymilvus import MilvusClient

from ragway import ids
from ragway.lexical import Bm25Index, Tokenizer, cjk_share
from ragway.records import Chunk, Hit
from ragway.retriever import Retriever, fold_repeats, fuse_across, mmr_order, rrf_fuse, weighted_fuse
from ragway.settings import Settings
from ragway.store import ChunkStore, _supports_full_text

DIM = 4
# A fake embedder: every text has a fixed vector. The query is close to the fish-heart text, so
# dense misses the zebrafish text that shares only the rare code ZX-417 with the query.
VECTORS = {
    "The zebrafish kinase ZX-417 controls fin growth.": [0.0, 0.0, 1.0, 0.0],
    "Heart muscle cells regenerate after injury in fish.": [1.0, 0.0, 0.0, 0.0],
    "Fish hearts heal themselves after an injury.": [0.95, 0.31, 0.0, 0.0],
    "黑豹队的防守只丢了308分，在联赛中排名第六。": [0.0, 1.0, 0.0, 0.0],
    "New employees get twenty days of annual leave.": [0.0, 0.0, 0.0, 1.0],
    "ZX-417 heart regeneration": [0.9, 0.0, 0.2, 0.1],
    "ZX-417 zebrafish": [0.1, 0.0, 1.0, 0.0],
    "防守 丢了 多少分": [0.1, 0.0, 0.0, 0.9],
}


class FakeEmbedder:
    dim = DIM

    def embed(self, texts):
        out = []
        for t in texts:
            v = np.asarray(VECTORS[t], dtype=np.float32)
            out.append((v / np.linalg.norm(v)).tolist())
        return out

    def embed_query(self, text):
        return self.embed([text])[0]


def chunks_of(tenant, kb, source, texts, digest="h1"):
    doc = ids.document_id(tenant, kb, source)
    vecs = FakeEmbedder().embed(texts)
    return [Chunk(chunk_id=ids.chunk_id(tenant, kb, doc, i), tenant=tenant, kb=kb, doc_id=doc, source=source,
                  page=0, chunk_index=i, content_hash=digest, text=t, created_at=int(time.time() * 1000),
                  metadata={"chunk_count": len(texts)}, embedding=v)
            for i, (t, v) in enumerate(zip(texts, vecs, strict=True))]


# --- pure functions, values worked out by hand ---------------------------------------------------
def test_rrf_by_hand():
    # a: 1/(60+1) + 1/(60+2); b: 1/(60+2) + 1/(60+1); c: 1/(60+3); d: 1/(60+1) from the second list only.
    fused = dict(rrf_fuse([["a", "b", "c"], ["b", "a"], ["d"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 61)
    assert [x for x, _ in rrf_fuse([["a", "b"], ["b"]])] == ["b", "a"]


def test_weighted_by_hand():
    # dense 0.9/0.5/0.1 -> 1, 0.5, 0; bm25 10/5 -> 1, 0. weights 0.3 dense, 0.7 bm25.
    fused = dict(weighted_fuse([[("a", 0.9), ("b", 0.5), ("c", 0.1)], [("c", 10.0), ("d", 5.0)]], [0.3, 0.7]))
    assert fused == pytest.approx({"a": 0.3, "b": 0.15, "c": 0.7, "d": 0.0})


def test_weighted_fusion_keeps_one_lists_clear_first_where_rrf_drops_it():
    """Why hybrid fuses scores by default: BM25 finds the one chunk with the question's rare name by
    a wide margin, the dense list does not hold it, and both lists hold a run of middling chunks."""
    shared = [f"m{i}" for i in range(10)]
    dense = [(cid, 0.62 - 0.002 * i) for i, cid in enumerate(shared)] + [(f"d{i}", 0.55) for i in range(40)]
    bm25 = [("codex", 21.0)] + [(cid, 3.0 - 0.1 * i) for i, cid in enumerate(shared)] + [("x", 1.0)]
    rrf_top5 = [cid for cid, _ in rrf_fuse([[c for c, _ in dense], [c for c, _ in bm25]], k=60)[:5]]
    assert "codex" not in rrf_top5  # 1/61 < 2/(60 + r) for every chunk both lists hold
    defaults = Settings()
    weights = [defaults.hybrid_dense_weight, 1 - defaults.hybrid_dense_weight]
    assert weighted_fuse([dense, bm25], weights)[0][0] == "codex"

def test_mmr_by_hand():
    vecs = np.array([[1, 0], [0.999, 0.0447], [0, 1]], dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = np.array([0.9, 0.89, 0.5], dtype=np.float32)
    # lambda 1: relevance only. lambda 0.5: after 0, item 1 scores 0.5*0.89 - 0.5*0.999 < 0, item 2 0.25.
    assert mmr_order(sims, vecs, 3, 1.0) == [0, 1, 2]
    assert mmr_order(sims, vecs, 2, 0.5) == [0, 2]


def _hit(chunk_id, text, source):
    return Hit(chunk_id=chunk_id, score=1.0, text=text, kb="kb", doc_id="d-" + source, source=source, page=0,
               chunk_index=0, metadata={})


def test_fold_repeats_by_hand():
    hits = [_hit("a", "Region: North | Units: 1,200", "sales.xlsx"), _hit("b", "Other text", "notes.md"),
            _hit("c", "Region: North |  Units: 1,200\n", "sales.csv"),
            _hit("d", "region: north | units: 1,200", "x.md")]
    folded = fold_repeats(hits)
    assert [h.chunk_id for h in folded] == ["a", "b", "d"]  # whitespace aside; letter case still counts
    assert [r.chunk_id for r in folded[0].also_in] == ["c"]
    assert folded[0].sources == ("sales.xlsx", "sales.csv")
    assert folded[1].also_in == () and folded[1].sources == ("notes.md",)


def test_tokenizer_english_and_chinese():
    tok = Tokenizer()
    assert tok("The kinases are regulating fins") == ["kinas", "regul", "fin"]
    assert Tokenizer(stem=False, stopwords=False)("The Kinases") == ["the", "kinases"]
    zh = tok("黑豹队的防守只丢了308分")
    assert "防守" in zh and "黑豹" in zh and "308" in zh and "的" not in zh
    assert tok("NFL联赛ZX-417") == ["nfl", "联赛", "zx", "417"]


def test_cjk_characters_are_terms_too_so_differently_cut_words_still_match():
    chars = Tokenizer(cjk_chars=True)
    terms = chars("为什么 GPU 会闲着？")
    assert "闲着" in terms and "#闲" in terms and "gpu" in terms
    assert "#什" not in terms and "#为" not in terms  # no character terms from function words
    assert "#闲" not in Tokenizer()("为什么 GPU 会闲着？")
    # jieba cuts 闲着 and 空闲 into different words: only the shared character links them.
    texts = ["解码期间处于空闲状态", "设备一直处于忙碌状态", "年假十五天"]
    assert Bm25Index(["a", "b", "c"], texts, Tokenizer()).search("它为什么闲着？", 3) == []
    assert [h.chunk_id for h in Bm25Index(["a", "b", "c"], texts, chars).search("它为什么闲着？", 3)] == ["a"]
    # English is untouched, stems included.
    assert chars("The kinases are regulating fins") == ["kinas", "regul", "fin"]


def test_cjk_share():
    assert cjk_share("黑豹队的防守只丢了308分") == pytest.approx(10 / 11)  # 10 ideographs, one number
    assert cjk_share("What is ZX-417?") == 0.0
    assert cjk_share("NFL联赛") == pytest.approx(2 / 3)
    # A Chinese question naming English terms is Chinese: the English-only embedder cannot read it.
    assert cjk_share("langchain-ChatGLM 第5号 issue 报告了什么问题？") == pytest.approx(9 / 13)
    assert cjk_share("What is the annual leave policy for 年假?") < 0.5
    assert cjk_share("？！ ") == 0.0


def test_bm25_index_finds_rare_term_and_nothing_for_unknown_terms():
    texts = ["the zebrafish kinase ZX-417", "fish hearts regenerate", "annual leave"]
    index = Bm25Index(["a", "b", "c"], texts, Tokenizer())
    assert [h.chunk_id for h in index.search("what is ZX-417?", 5)] == ["a"]
    assert index.search("quantum chromodynamics", 5) == []
    assert Bm25Index([], [], Tokenizer()).search("x", 3) == []


def test_server_versions():
    assert not _supports_full_text("v2.3.5-lite")
    assert not _supports_full_text("v2.4.15")
    assert _supports_full_text("v2.5.4") and _supports_full_text("v2.6.0") and _supports_full_text("milvus_lite-3.2.2")


# --- the Retriever on milvus-lite, both BM25 backends --------------------------------------------
@pytest.fixture(params=["milvus", "memory"])
def retriever(request, tmp_path):
    settings = Settings(collection="unit_retrieval", num_partitions=4, lexical_backend=request.param,
                        bm25_check_interval_s=0.0, hybrid_fetch_k=3)
    store = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    store.upsert(chunks_of("t1", "kb", "fish.txt", [
        "The zebrafish kinase ZX-417 controls fin growth.",
        "Heart muscle cells regenerate after injury in fish.",
        "Fish hearts heal themselves after an injury."]))
    store.upsert(chunks_of("t1", "kb", "zh.txt", ["黑豹队的防守只丢了308分，在联赛中排名第六。"]))
    store.upsert(chunks_of("t1", "kb", "hr.txt", ["New employees get twenty days of annual leave."]))
    store.upsert(chunks_of("t2", "kb", "other.txt", ["The zebrafish kinase ZX-417 controls fin growth."]))
    r = Retriever(settings, FakeEmbedder(), store)
    assert r.lexical_backend == request.param
    return r


def texts(hits):
    return [h.text for h in hits]


def test_modes_rare_term_dense_bm25_hybrid(retriever):
    q = "ZX-417 heart regeneration"
    dense = retriever.retrieve("t1", "kb", q, 2, mode="dense")
    assert "ZX-417" not in " ".join(texts(dense))  # dense misses the rare code
    bm25 = retriever.retrieve("t1", "kb", q, 2, mode="bm25")
    assert texts(bm25)[0].startswith("The zebrafish kinase ZX-417")
    assert all(h.kb == "kb" and h.source == "fish.txt" for h in bm25)  # tenant t2's copy never shows
    # BM25 hits carry their cosine (from the stored vector), the same the dense mode gives that chunk,
    # so a score threshold or the answer threshold means the same in both modes.
    dense_cosines = {h.chunk_id: h.score for h in retriever.retrieve("t1", "kb", q, 5, mode="dense")}
    for h in bm25:
        assert h.metadata["retrieval"]["dense"] == pytest.approx(dense_cosines[h.chunk_id], abs=1e-5)
    hybrid = retriever.retrieve("t1", "kb", q, 2, mode="hybrid")
    assert set(texts(hybrid)) == {"The zebrafish kinase ZX-417 controls fin growth.",
                                  "Heart muscle cells regenerate after injury in fish."}
    for h in hybrid:  # every hybrid hit has its dense cosine, for one "not found" threshold
        assert isinstance(h.metadata["retrieval"]["dense"], float)


def test_chinese_bm25(retriever):
    hits = retriever.retrieve("t1", "kb", "防守 丢了 多少分", 3, mode="bm25")
    assert texts(hits) == ["黑豹队的防守只丢了308分，在联赛中排名第六。"]
    dense = retriever.retrieve("t1", "kb", "防守 丢了 多少分", 1, mode="dense")
    assert texts(dense) == ["New employees get twenty days of annual leave."]
    # With equal weights both lists' tops tie under RRF (1/61 each): hybrid returns both.
    retriever.settings = retriever.settings.model_copy(update={"hybrid_dense_weight_cjk": 0.5})
    assert set(texts(retriever.retrieve("t1", "kb", "防守 丢了 多少分", 2, mode="hybrid"))) == {
        "黑豹队的防守只丢了308分，在联赛中排名第六。", "New employees get twenty days of annual leave."}


def test_cjk_queries_weight_the_dense_list_less(retriever):
    retriever.settings = retriever.settings.model_copy(update={"hybrid_dense_weight": 0.5,
                                                               "hybrid_dense_weight_cjk": 0.2})
    assert retriever.dense_weight("防守 丢了 多少分") == 0.2
    assert retriever.dense_weight("ZX-417 heart regeneration") == 0.5
    assert retriever.dense_weight("NFL联赛 Panthers defence") == 0.5  # mostly Latin letters
    # BM25's top now outranks the (English-only) embedder's top, on both BM25 backends.
    hits = retriever.retrieve("t1", "kb", "防守 丢了 多少分", 2, mode="hybrid")
    assert texts(hits)[0] == "黑豹队的防守只丢了308分，在联赛中排名第六。"
    assert hits[0].metadata["retrieval"]["bm25"] is not None
    assert isinstance(hits[0].metadata["retrieval"]["dense"], float)


def test_mmr_skips_near_duplicates(retriever):
    q = "ZX-417 heart regeneration"
    dense = texts(retriever.retrieve("t1", "kb", q, 2, mode="dense"))
    assert dense[1] == "Fish hearts heal themselves after an injury."
    mmr = retriever.retrieve("t1", "kb", q, 2, mode="mmr")
    assert texts(mmr)[0] == "Heart muscle cells regenerate after injury in fish."
    assert texts(mmr)[1] != "Fish hearts heal themselves after an injury."  # the near-duplicate waits


def test_filter_narrows_every_mode(retriever):
    expr = 'source == "hr.txt"'
    for mode in ("dense", "bm25", "hybrid", "mmr"):
        assert {h.source for h in retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 3, mode=mode,
                                                     extra_filter=expr)} <= {"hr.txt"}, mode


def test_new_chunks_are_found_after_a_change(retriever):
    assert retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 5, mode="bm25")
    retriever.store.upsert(chunks_of("t1", "kb", "hr2.txt", ["ZX-417 heart regeneration"]))
    # In-process BM25: this search starts the rebuild (and gets the previous index); wait for the swap.
    retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 5, mode="bm25")
    assert retriever.cache.wait((retriever.store.collection, "t1", "kb"), timeout=60)
    hits = retriever.retrieve("t1", "kb", "ZX-417 heart regeneration", 5, mode="bm25")
    assert texts(hits)[0] == "ZX-417 heart regeneration"


def test_every_mode_shows_a_text_kept_in_two_files_once(retriever):
    """The same table as CSV and as XLSX: one place in the hits, the other file in `also_in`, and the next
    place goes to another text."""
    zebrafish = "The zebrafish kinase ZX-417 controls fin growth."
    retriever.store.upsert(chunks_of("t1", "kb", "fish-copy.csv", [zebrafish]))
    retriever.cache.wait((retriever.store.collection, "t1", "kb"), timeout=60)
    q = "ZX-417 zebrafish"
    for mode in ("dense", "bm25", "hybrid", "mmr"):
        hits = retriever.retrieve("t1", "kb", q, 2, mode=mode)
        assert texts(hits).count(zebrafish) == 1, mode
        assert len(hits) == (1 if mode == "bm25" else 2), mode  # no other chunk has these words
        if mode != "mmr":  # MMR passes over the copy by itself: its vector is the same
            assert texts(hits)[0] == zebrafish, mode
            assert set(hits[0].sources) == {"fish.txt", "fish-copy.csv"}, mode
    retriever.settings = retriever.settings.model_copy(update={"fold_repeated_text": False})
    assert texts(retriever.retrieve("t1", "kb", q, 2, mode="bm25")) == [zebrafish, zebrafish]


def test_unknown_mode_and_empty_query(retriever):
    from ragway.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        retriever.retrieve("t1", "kb", "x", 3, mode="sparse")
    assert retriever.retrieve("t1", "kb", "   ", 3, mode="bm25") == []


def test_fuse_across_lets_dense_stand_in_for_bm25_on_chunks_it_cannot_read():
    dense = [("zh", 0.6), ("en-a", 0.5), ("en-b", 0.2)]
    lexical = [("en-a", 9.0), ("en-b", 8.0), ("other", 1.0)]
    plain = dict(weighted_fuse([dense, lexical], [0.45, 0.55]))
    across = dict(fuse_across(dense, lexical, 0.45, unread={"zh"}))
    assert plain["zh"] == pytest.approx(0.45) and across["zh"] == pytest.approx(1.0)  # BM25's share from dense
    assert max(plain, key=plain.get) == "en-a" and max(across, key=across.get) == "zh"
    others = {k: v for k, v in plain.items() if k != "zh"}
    assert {k: v for k, v in across.items() if k != "zh"} == pytest.approx(others)
    assert dict(fuse_across(dense, lexical, 0.45, unread=set())) == pytest.approx(plain)
