"""A bilingual company's kb through the real gateway, ingest worker, Milvus 2.3.5 and FastChat: an
English question finds the Chinese policy that answers it (the paired multilingual model reads it across
languages, `RAGWAY_CROSS_LINGUAL_DENSE`), ahead of English documents that share the question's words,
and the answer cites it; an English question about an English document is served as before."""

from __future__ import annotations

import pytest

from ragway.apps.client import GatewayClient
from ragway.store import ChunkStore
from tests.integration.conftest import extra_gateway, extra_worker, new_kb, wait_for_job
from tests.ports import free_port

LEAVE_ZH = ("Contoso 休假制度\n\n年假：新员工入职第一年享有十八天带薪年假，之后每工作满一年增加一天。\n"
            "年假须至少提前三周通过人事系统申请，并由直属经理批准。\n\n"
            "病假：员工每年享有十二天带薪病假。连续病假超过三天的，须提供医生证明。\n")
DOCS = {
    "休假制度.txt": LEAVE_ZH,
    "parking.md": "# Parking\n\nEmployees park in the north garage. New employees get a parking badge in their "
                  "first week; visitors park on level 2 for up to 4 hours.\n",
    "expenses.md": "# Expenses\n\nTravel expenses must be submitted within 45 days of the end of the trip, with "
                   "receipts attached. Taxi rides over 60 euros need a manager's approval.\n",
}


@pytest.fixture(scope="module")
def kb(client, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bilingual")
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    name = new_kb(client, "bilingual")
    job = wait_for_job(client, client.upload(name, sorted(folder.iterdir()))["job_id"])
    assert job["status"] == "done", job
    return name


def test_an_english_question_finds_the_chinese_passage_first(client, kb, settings):
    assert settings.cross_lingual_dense
    for question in ("How many days of annual leave does a new employee get in the first year?",
                     "How many paid sick days do employees get each year?"):
        hits = client.search(kb, question)["hits"]
        assert hits[0]["source"] == "休假制度.txt", [h["source"] for h in hits]
    hits = client.search(kb, "Within how many days must travel expenses be submitted?")["hits"]
    assert hits[0]["source"] == "expenses.md"


@pytest.mark.parametrize(("question", "number"), [
    ("How many days of annual leave does a new employee get in the first year?", ("18", "eighteen")),
    ("How many days of annual leave does a new employee get?", ("18", "eighteen")),
    ("How many paid sick days do employees get each year?", ("12", "twelve")),
])
def test_the_answer_from_the_chinese_passage_cites_it(client, kb, question, number):
    """The English answer translates the passage, so its words are not checked against it (its numbers are)."""
    answer = client.ask(kb, question)
    assert not answer["declined"], answer
    assert [c["source"] for c in answer["citations"]] == ["休假制度.txt"], answer
    assert any(n in answer["answer"].lower() for n in number), answer["answer"]


# English documents beside DOCS that a Chinese question about one of them must not prefer
MORE_EN = {
    "security.md": "# IT security\n\nPasswords are changed every 90 days and hold at least 14 characters. Laptops "
                   "are encrypted and locked when unattended.",
    "canteen.md": "# Canteen\n\nThe canteen on the ground floor serves lunch from 11:30 to 14:00. Vegetarian dishes "
                  "are offered every day.",
    "onboarding.md": "# Onboarding\n\nNew employees meet their mentor on the first day and complete the safety "
                     "training within two weeks.",
}


@pytest.fixture(scope="module")
def every_chunk_retriever(settings):
    """DOCS and MORE_EN where every chunk carries both halves (`RAGWAY_MULTILINGUAL_CHUNKS=all`), in a
    collection of their own on the real Milvus 2.3.5 server (its JSON filters pick one script's chunks)."""
    import uuid

    from ragway import ids
    from ragway.embedder import get_embedder
    from ragway.records import Chunk
    from ragway.retriever import Retriever
    from ragway.store import ChunkStore

    s = settings.model_copy(update={"collection": f"ragway_it_all_{uuid.uuid4().hex[:8]}",
                                    "multilingual_chunks": "all", "bm25_check_interval_s": 0.0})
    embedder = get_embedder(s)
    store = ChunkStore(s, dim=embedder.dim)
    store.ensure_collection()
    texts = {name: text.strip() for name, text in {**DOCS, **MORE_EN}.items()}
    vectors = embedder.embed(list(texts.values()))
    store.upsert([Chunk(chunk_id=ids.chunk_id("t1", "kb", ids.document_id("t1", "kb", name), 0), tenant="t1", kb="kb",
                        doc_id=ids.document_id("t1", "kb", name), source=name, page=0, chunk_index=0,
                        content_hash="h", text=text, created_at=0, metadata={"chunk_count": 1}, embedding=v)
                  for (name, text), v in zip(texts.items(), vectors, strict=True)])
    store.settle()
    try:
        yield Retriever(s, embedder, store)
    finally:
        store.client.drop_collection(s.collection)


def test_chinese_questions_find_english_passages_where_every_chunk_has_both_halves(every_chunk_retriever):
    retriever = every_chunk_retriever
    assert retriever.store.recorded_embedding_model()[0] == "all-MiniLM-L6-v2+all:multilingual-e5-small"
    for question in ("出租车费用超过多少欧元需要经理批准？", "差旅费用须在行程结束后多少天内提交？"):
        assert retriever.retrieve("t1", "kb", question, 5, mode="hybrid")[0].source == "expenses.md", question
        # Dense: first of the English documents. e5-small scores a passage in the question's own language
        # higher, so the Chinese policy can still come before it (README, "Across languages").
        dense = [h.source for h in retriever.retrieve("t1", "kb", question, 5, mode="dense")]
        assert [s for s in dense if s != "休假制度.txt"][0] == "expenses.md", (question, dense)
    for question, source in (("新员工第一年有多少天年假？", "休假制度.txt"),
                             ("How many paid sick days do employees get each year?", "休假制度.txt"),
                             ("Within how many days must travel expenses be submitted?", "expenses.md")):
        for mode in ("dense", "hybrid"):
            hits = retriever.retrieve("t1", "kb", question, 5, mode=mode)
            assert hits[0].source == source, (question, mode, [h.source for h in hits])
    every_chunk = [h.chunk_id for h in retriever.retrieve("t1", "kb", "年假", 10)]
    stored = retriever.store.fetch_hits("t1", "kb", every_chunk)
    assert {hit.source: hit.metadata["cjk_text"] for hit, _ in stored.values()} == \
        {"休假制度.txt": True, **{name: False for name in [*DOCS, *MORE_EN] if name != "休假制度.txt"}}


def test_a_gateway_and_worker_where_every_chunk_has_both_halves(settings, client, milvus, tmp_path):
    """`RAGWAY_MULTILINGUAL_CHUNKS=all` end to end: a worker and gateway of their own on a collection of their
    own. The Celery worker encodes English chunks with both models and flags their script, the gateway's
    search reads each script with its own vector, and a Chinese question is answered from an English policy."""
    import uuid

    collection = f"ragway_it_all_{uuid.uuid4().hex[:8]}"
    queue = f"ragway.ingest.test-{uuid.uuid4().hex[:8]}"
    for name, text in {**DOCS, **MORE_EN}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    mode = {"multilingual_chunks": "all", "collection": collection}
    try:
        with extra_worker(queue, **mode), extra_gateway(settings, free_port(), ingest_queue=queue, **mode) as url:
            ours = GatewayClient(url, api_key=client.api_key)
            kb = new_kb(ours, "every-chunk")
            job = wait_for_job(ours, ours.upload(kb, sorted(tmp_path.iterdir()))["job_id"])
            assert job["status"] == "done", job
            for question in ("出租车费用超过多少欧元需要经理批准？", "差旅费用须在行程结束后多少天内提交？"):
                hits = ours.search(kb, question)["hits"]
                assert hits[0]["source"] == "expenses.md", (question, [h["source"] for h in hits])
            hits = ours.search(kb, "How many paid sick days do employees get each year?")["hits"]
            assert hits[0]["source"] == "休假制度.txt", [h["source"] for h in hits]
            answer = ours.ask(kb, "差旅费用须在行程结束后多少天内提交？")
            assert not answer["declined"] and "45" in answer["answer"], answer
            assert [c["source"] for c in answer["citations"]] == ["expenses.md"], answer
            ours.delete_kb(kb)
        store = ChunkStore(settings.model_copy(update={"collection": collection}), dim=768, client=milvus)
        assert store.recorded_embedding_model() == ("all-MiniLM-L6-v2+all:multilingual-e5-small", 768)
    finally:
        milvus.drop_collection(collection)
