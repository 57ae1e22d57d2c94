"""Issue 15, item 1: the retrieval mode and top_k that searches, answers and chats get when the request
names none come from settings, in one place (Settings.retrieval_mode, Settings.top_k). The default mode
is the best one measured on the development QA set's tune half (hybrid; see README "Retrieval modes and
evaluation"). The real gateway is tested in tests/integration/test_retrieval_defaults.py."""

import numpy as np
from pymilvus import MilvusClient

from api.schemas import AskRequest, ChatCompletionRequest, RetrievalParams, SearchRequest
from ragway import ids
from ragway.rag import RagService, RetrievalOptions
from ragway.records import Chunk
from ragway.settings import Settings
from ragway.store import ChunkStore

DIM = 4


def test_the_defaults_are_pinned():
    s = Settings()
    assert s.retrieval_mode == "hybrid" and s.top_k == 5
    assert s.hybrid_fusion == "weighted" and s.hybrid_fetch_k == 50 and s.hybrid_dense_weight == 0.45
    assert s.search_ef == 1024 and not s.embed_chunk_context
    assert s.bm25_cjk_mode == "search" and not s.bm25_cjk_chars


def test_the_answer_threshold_follows_the_embedders_cosines():
    assert Settings().answer_threshold == 0.2  # all-MiniLM-L6-v2
    assert Settings(embedding_model="multilingual-e5-small").answer_threshold == 0.8
    assert Settings(embedding_model="multilingual-e5-small", answer_min_score=0.5).answer_threshold == 0.5
    assert Settings(embedding_model="/models/bge-small-zh").answer_threshold == 0.2


def test_requests_leave_mode_and_top_k_to_the_server(monkeypatch):
    for field in ("mode", "top_k"):
        assert RetrievalParams.model_fields[field].default is None
    assert SearchRequest(kb="k", query="q").options() == RetrievalOptions()
    assert AskRequest(kb="k", question="q").options() == RetrievalOptions()
    assert ChatCompletionRequest(model="kb:k", messages=[{"role": "user", "content": "q"}]).retrieval is None
    monkeypatch.setenv("RAGWAY_RETRIEVAL_MODE", "bm25")
    monkeypatch.setenv("RAGWAY_TOP_K", "7")
    assert (Settings().retrieval_mode, Settings().top_k) == ("bm25", 7)


class OneHot:
    dim = DIM

    def embed(self, texts):
        return [np.eye(DIM)[len(t) % DIM].tolist() for t in texts]

    def embed_query(self, text):
        return self.embed([text])[0]


def test_the_service_resolves_what_a_request_leaves_out(tmp_path):
    settings = Settings(
        collection="unit_defaults", num_partitions=4, top_k=3, retrieval_mode="bm25", bm25_check_interval_s=0.0
    )
    store = ChunkStore(settings, dim=DIM, client=MilvusClient(str(tmp_path / "lite.db")))
    store.ensure_collection()
    texts = [f"crate {i} of pears" for i in range(6)]
    doc = ids.document_id("t1", "kb", "a.txt")
    store.upsert(
        [
            Chunk(
                chunk_id=ids.chunk_id("t1", "kb", doc, i),
                tenant="t1",
                kb="kb",
                doc_id=doc,
                source="a.txt",
                page=0,
                chunk_index=i,
                content_hash="h",
                text=t,
                created_at=0,
                metadata={"chunk_count": len(texts)},
                embedding=OneHot().embed([t])[0],
            )
            for i, t in enumerate(texts)
        ]
    )
    rag = RagService(settings, OneHot(), store, generator=None)
    hits = rag.search("t1", "kb", "pears", RetrievalOptions())
    assert len(hits) == 3 and {h.metadata["retrieval"]["mode"] for h in hits} == {"bm25"}
    hits = rag.search("t1", "kb", "pears", RetrievalOptions(top_k=4, mode="dense"))
    assert len(hits) == 4 and {h.metadata["retrieval"]["mode"] for h in hits} == {"dense"}
