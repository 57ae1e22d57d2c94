"""The default embedder pairs all-MiniLM-L6-v2 with multilingual-e5-small for CJK text in one vector:
each half keeps its model's cosine under inner product, only CJK text pays for the second model, and a
Chinese question finds a Chinese passage written with English terms, which MiniLM and BM25 both miss."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import MilvusClient

from ragway import ids
from ragway.embedder import PairedEmbedder, cjk_model_settings, get_embedder
from ragway.records import Chunk
from ragway.retriever import Retriever
from ragway.settings import DEFAULT_EMBEDDING_ID, Settings
from ragway.store import ChunkStore


class Counting:
    """A fake model: a unit vector per text, recording what it was asked to embed."""

    def __init__(self, dim: int, name: str):
        self.dim, self.model_name, self.seen = dim, name, []

    def _vector(self, text: str) -> list[float]:
        v = np.random.default_rng(abs(hash((self.model_name, text))) % 2**32).normal(size=self.dim)
        return (v / np.linalg.norm(v)).tolist()

    def embed(self, texts):
        self.seen += list(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text):
        self.seen.append(text)
        return self._vector(text)


def test_layout_main_half_then_cjk_half_and_only_cjk_text_pays_for_the_second_model():
    main, cjk = Counting(4, "main"), Counting(3, "cjk")
    paired = PairedEmbedder(main, cjk, Settings())
    texts = ["Annual leave is fifteen days.", "年假为十五天，入职满一年后生效。",
             "Tokenize / Detokenize 过程在 CPU 上执行"]
    vectors = np.array(paired.embed(texts))
    assert paired.dim == 7 and vectors.shape == (3, 7)
    assert np.allclose(np.linalg.norm(vectors[:, :4], axis=1), 1.0)
    assert np.allclose(np.linalg.norm(vectors[:, 4:], axis=1), [0.0, 1.0, 1.0])
    assert cjk.seen == texts[1:] and main.seen == texts

    english = np.array(paired.embed_query("how long is annual leave"))
    chinese = np.array(paired.embed_query("年假多少天"))
    assert np.allclose(english[4:], 0) and np.allclose(chinese[:4], 0)
    # Inner product with a stored vector is exactly one model's cosine.
    assert np.isclose(english @ vectors[1], np.dot(main._vector("how long is annual leave"), main._vector(texts[1])))
    assert np.isclose(chinese @ vectors[1], np.dot(cjk._vector("年假多少天"), cjk._vector(texts[1])))
    assert chinese @ vectors[0] == 0.0


def test_settings_record_the_pair_and_turn_it_off():
    assert Settings().embedding_model_id == DEFAULT_EMBEDDING_ID == "all-MiniLM-L6-v2+cjk:multilingual-e5-small"
    assert Settings(cjk_embedding_model="").embedding_model_id == "all-MiniLM-L6-v2"
    e5_main = Settings(embedding_model="multilingual-e5-small")
    assert e5_main.embedding_model_id == "multilingual-e5-small" and not e5_main.pairs_cjk_embedder
    assert Settings(cjk_embedding_model="").cjk_dense_weight == 0.0  # MiniLM cannot read the query
    assert Settings().cjk_dense_weight > 0.0


@pytest.fixture(scope="module")
def paired_store(tmp_path_factory):
    settings = Settings(collection="paired_chunks", num_partitions=4, bm25_check_interval_s=0.0,
                        lexical_backend="memory")
    embedder = get_embedder(settings)
    client = MilvusClient(str(tmp_path_factory.mktemp("paired") / "lite.db"))
    store = ChunkStore(settings, dim=embedder.dim, client=client)
    store.ensure_collection()
    texts = ["大模型推理的调度优化：Tokenize / Detokenize 过程在 CPU 上执行，期间 GPU 处于空闲状态；"
             "多线程异步流水线可以降低时延。",
             "员工出差报销须在行程结束后三十天内提交，并附上发票原件。",
             "模型量化把权重从 FP16 压缩到 INT8 或 INT4，以减少显存占用。",
             "Hotels are booked through the company travel portal; GPU servers are reserved in the lab calendar.",
             "Travel expenses must be submitted within 30 days of the end of the trip."]
    doc = ids.document_id("t1", "kb", "notes.md")
    store.upsert([Chunk(chunk_id=ids.chunk_id("t1", "kb", doc, i), tenant="t1", kb="kb", doc_id=doc,
                        source="notes.md", page=0, chunk_index=i, content_hash="h", text=t, created_at=0,
                        metadata={"chunk_count": len(texts)}, embedding=v)
                  for i, (t, v) in enumerate(zip(texts, embedder.embed(texts), strict=True))])
    return Retriever(settings, embedder, store), texts


def test_the_index_is_inner_product_and_the_field_holds_both_halves(paired_store):
    retriever, _ = paired_store
    assert retriever.store.metric == "IP" and retriever.store.dim == 768
    assert retriever.store.recorded_embedding_model() in (None, (DEFAULT_EMBEDDING_ID, 768))  # lite keeps none


def test_a_chinese_question_finds_a_passage_in_english_terms(paired_store):
    retriever, texts = paired_store
    question = "为什么分词和反分词阶段 GPU 会闲着？"  # the passage says "Tokenize / Detokenize", "空闲"
    dense = retriever.retrieve("t1", "kb", question, 5, mode="dense")
    assert dense[0].text == texts[0] and dense[0].score > dense[1].score
    assert all(h.score == 0.0 for h in dense if h.text in texts[3:])  # English chunks: no CJK half
    hybrid = retriever.retrieve("t1", "kb", question, 3, mode="hybrid")
    assert texts[0] in [h.text for h in hybrid[:2]]  # beside the English chunk BM25 finds by "GPU"
    assert texts[2] not in [h.text for h in hybrid[:2]]


def test_english_questions_score_english_chunks_by_the_main_model_as_before(paired_store):
    retriever, texts = paired_store
    minilm = get_embedder(Settings(cjk_embedding_model=""))
    e5 = get_embedder(cjk_model_settings(Settings()))
    question = "When are travel expenses due?"
    hits = retriever.retrieve("t1", "kb", question, 5, mode="dense")
    assert hits[0].text == texts[4]
    query, across = np.array(minilm.embed_query(question)), np.array(e5.embed_query(question))
    stored = dict(zip(texts, np.array(minilm.embed(texts)), strict=True))  # batched as ingested (int8 activations)
    stored_cjk = dict(zip(texts[:3], np.array(e5.embed(texts[:3])), strict=True))
    for h in hits:
        if h.text in stored_cjk:  # read by e5 alone, its cosine put on MiniLM's scale
            floor = retriever.settings.cross_lingual_floor
            assert h.score == pytest.approx(0.2 + (float(across @ stored_cjk[h.text]) - floor) * 0.8 / (1 - floor),
                                            abs=1e-3)
        else:
            assert h.score == pytest.approx(float(query @ stored[h.text]), abs=1e-4)


def test_an_english_question_finds_a_chinese_passage(paired_store):
    retriever, texts = paired_store
    question = "Why are model weights compressed to lower precision?"  # texts[2]: 模型量化 ... FP16 ... INT8
    for mode in ("dense", "hybrid"):
        assert retriever.retrieve("t1", "kb", question, 3, mode=mode)[0].text == texts[2], mode
    assert retriever.query_vectors("t1", "kb", question).across is not None
    assert retriever.query_vectors("t1", "kb", "为什么要量化模型？").across is None  # a CJK query: e5 only
    off = Retriever(retriever.settings.model_copy(update={"cross_lingual_dense": False}), retriever.embedder,
                    retriever.store)
    assert off.query_vectors("t1", "kb", question).across is None
    assert off.retrieve("t1", "kb", question, 3, mode="dense")[0].text != texts[2]


def test_a_kb_without_cjk_chunks_costs_no_second_embedding(paired_store):
    retriever, texts = paired_store
    english_only = "kb-en"
    doc = ids.document_id("t1", english_only, "notes.md")
    vectors = retriever.embedder.embed(texts[3:])
    retriever.store.upsert([Chunk(chunk_id=ids.chunk_id("t1", english_only, doc, i), tenant="t1", kb=english_only,
                                  doc_id=doc, source="notes.md", page=0, chunk_index=i, content_hash="h", text=t,
                                  created_at=0, metadata={"chunk_count": 2}, embedding=v)
                            for i, (t, v) in enumerate(zip(texts[3:], vectors, strict=True))])
    assert retriever.query_vectors("t1", english_only, "When are travel expenses due?").across is None
    assert retriever.query_vectors("t1", "kb", "When are travel expenses due?").across is not None


def test_every_chunk_gets_both_halves_when_asked():
    main, cjk = Counting(4, "main"), Counting(3, "cjk")
    settings = Settings(multilingual_chunks="all")
    assert settings.embedding_model_id == "all-MiniLM-L6-v2+all:multilingual-e5-small"  # another collection
    paired = PairedEmbedder(main, cjk, settings)
    texts = ["Annual leave is fifteen days.", "年假为十五天。"]
    vectors = np.array(paired.embed(texts))
    assert np.allclose(np.linalg.norm(vectors[:, 4:], axis=1), 1.0) and cjk.seen == texts
    assert not Settings(multilingual_chunks="all", cjk_embedding_model="").paired_reads_all_chunks


@pytest.fixture(scope="module")
def every_chunk_store(tmp_path_factory, paired_store):
    """paired_store's chunks, each with both halves (`multilingual_chunks=all`)."""
    _, texts = paired_store
    settings = Settings(collection="paired_all_chunks", num_partitions=4, bm25_check_interval_s=0.0,
                        lexical_backend="memory", multilingual_chunks="all")
    embedder = get_embedder(settings)
    client = MilvusClient(str(tmp_path_factory.mktemp("paired-all") / "lite.db"))
    store = ChunkStore(settings, dim=embedder.dim, client=client)
    store.ensure_collection()
    for kb, rows in (("kb", texts), ("kb-en", texts[3:])):
        doc = ids.document_id("t1", kb, "notes.md")
        store.upsert([Chunk(chunk_id=ids.chunk_id("t1", kb, doc, i), tenant="t1", kb=kb, doc_id=doc,
                            source="notes.md", page=0, chunk_index=i, content_hash="h", text=t, created_at=0,
                            metadata={"chunk_count": len(rows)}, embedding=v)
                      for i, (t, v) in enumerate(zip(rows, embedder.embed(rows), strict=True))])
    return Retriever(settings, embedder, store), texts


def test_a_chinese_question_finds_an_english_passage_where_every_chunk_has_both_halves(paired_store,
                                                                                       every_chunk_store):
    question = "实验室的 GPU 服务器怎么预约？"  # texts[3]: "GPU servers are reserved in the lab calendar"
    retriever, texts = every_chunk_store
    assert retriever.retrieve("t1", "kb", question, 3, mode="hybrid")[0].text == texts[3]
    # Dense: its cosine is put on the Chinese passages' scale (e5 scores a passage in the question's own
    # language higher), which lifts it above the unrelated Chinese ones, level with the one on GPUs.
    e5 = get_embedder(cjk_model_settings(Settings()))
    dense = retriever.retrieve("t1", "kb", question, 5, mode="dense")
    found = next(h for h in dense if h.text == texts[3])
    cosine = float(np.dot(e5.embed_query(question), e5.embed(texts)[3]))  # batched as ingested
    floor = retriever.settings.cross_lingual_floor_cjk
    assert found.score == pytest.approx(0.8 + (cosine - floor) * 0.2 / (1 - floor), abs=1e-3)
    assert {h.text for h in dense[:2]} == {texts[0], texts[3]}
    assert cosine < next(h.score for h in dense if h.text == texts[0])  # unmapped it would come second
    cjk_only, _ = paired_store  # the default: English chunks have no multilingual half, so dense cannot
    assert all(h.score == 0.0 for h in cjk_only.retrieve("t1", "kb", question, 5, mode="dense")
               if h.text in texts[3:])


def test_english_questions_are_unchanged_where_every_chunk_has_both_halves(paired_store, every_chunk_store):
    retriever, texts = every_chunk_store
    default, _ = paired_store
    for question, expected in (("Why are model weights compressed to lower precision?", texts[2]),
                               ("When are travel expenses due?", texts[4])):
        for mode in ("dense", "hybrid"):
            hits = retriever.retrieve("t1", "kb", question, 5, mode=mode)
            assert hits[0].text == expected, (question, mode)
            assert len({h.chunk_id for h in hits}) == len(hits)  # a chunk comes once, from one of the two searches
        every, cjk_only = (r.retrieve("t1", "kb", question, 5, mode="dense") for r in (retriever, default))
        assert [h.text for h in every] == [h.text for h in cjk_only]
        # equal up to int8 activations quantized per batch (e5 encoded 5 passages here, 3 there)
        assert [h.score for h in every] == pytest.approx([h.score for h in cjk_only], abs=0.01)
    # Every chunk answers the multilingual probe: the kb's own text tells whether it holds CJK chunks.
    assert retriever.query_vectors("t1", "kb-en", "When are travel expenses due?").across is None
    assert retriever.query_vectors("t1", "kb", "When are travel expenses due?").across is not None


def test_a_chunk_embedded_after_its_context_is_cjk_text_by_its_own_text(tmp_path):
    """With `embed_chunk_context`, what is embedded starts with the document's title: a Chinese title over an
    English chunk must not give it the CJK half (the store and the retriever read its own, English, text),
    nor an English title over a Chinese chunk take the half away."""
    from ragway.ingest import Ingestor
    from ragway.splitter import Splitter

    main, cjk = Counting(4, "main"), Counting(3, "cjk")
    settings = Settings(collection="paired_context", num_partitions=4, embed_chunk_context=True)
    store = ChunkStore(settings, dim=7, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    ingestor = Ingestor(Splitter(settings), PairedEmbedder(main, cjk, settings), store)
    ingestor.ingest("t1", "kb", "员工手册.txt", b"Badges open the basement door.\n")
    ingestor.ingest("t1", "kb", "handbook-of-the-northwind-trading-company.txt", "年假为十五天。\n".encode())
    assert cjk.seen == ["handbook of the northwind trading company\n年假为十五天。"]
    assert main.seen[0] == "员工手册\nBadges open the basement door."  # the context is embedded with it
    rows = {r["source"]: r for r in store.iter_rows("t1", "kb", ["source", "embedding"])}
    assert not any(rows["员工手册.txt"]["embedding"][4:])
    assert any(rows["handbook-of-the-northwind-trading-company.txt"]["embedding"][4:])
