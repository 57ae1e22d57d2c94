"""The gateway in-process (FastAPI's TestClient), in seconds: routes, errors, limits, middleware and
the services behind them, on a throw-away Redis server and milvus-lite, with a hashing embedder and
a generator that quotes its first passage instead of the models. The real-stack suite
(tests/integration) covers the same API against Milvus, Celery and FastChat."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import time
from collections.abc import AsyncIterator
from functools import cached_property

import pytest
import redis
from fastapi.testclient import TestClient
from milvus_lite.server_manager import server_manager_instance

from api.services import Services
from ragway import ids
from ragway.apps.stack import redis_server_binary
from ragway.auth import Role
from ragway.generator import Reply
from ragway.records import Chunk
from ragway.settings import get_settings
from tests.ports import free_port

DIM = 32


class HashingEmbedder:
    dim = DIM
    model_name = "hashing"

    def embed(self, texts):
        out = []
        for text in texts:
            v = [0.0] * DIM
            for word in text.lower().split():
                v[int(hashlib.md5(word.strip(".,?").encode()).hexdigest(), 16) % DIM] += 1.0
            norm = sum(x * x for x in v) ** 0.5 or 1.0
            out.append([x / norm for x in v])
        return out

    embed_queries = embed

    def embed_query(self, text):
        return self.embed([text])[0]


class QuotingGenerator:
    """Answers with its first passage's first sentence, cited."""

    def __init__(self):
        self.questions: list[str] = []

    def answer(self, question, passages, language) -> Reply:
        self.questions.append(question)
        return Reply(passages[0].text.split(". ")[0].rstrip(".") + ". [1]", 10, 5)

    async def stream_answer(self, question, passages, language) -> AsyncIterator[str]:
        for word in self.answer(question, passages, language).text.split(" "):
            yield word + " "

    def condense(self, history, question, language) -> str:
        return f"{history[-1].content} {question}" if history else question

    def ping(self) -> None:
        pass

    async def forward(self, payload):
        return {"object": "chat.completion", "model": payload["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "plain"}}]}


class InProcessServices(Services):
    @cached_property
    def embedder(self):
        return HashingEmbedder()

    @cached_property
    def generator(self):
        return QuotingGenerator()



@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def gateway(redis_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gateway")
    env = {"RAGWAY_REDIS_URL": redis_url, "RAGWAY_MILVUS_URI": str(folder / "lite.db"),
           "RAGWAY_STATE_DIR": str(folder), "RAGWAY_BLOB_SWEEP_INTERVAL_S": "0", "RAGWAY_COLLECTION": "api_chunks",
           "RAGWAY_NUM_PARTITIONS": "4", "RAGWAY_BM25_CHECK_INTERVAL_S": "0", "RAGWAY_MAX_JSON_BODY_BYTES": "20000",
           "RAGWAY_ANSWER_MIN_SCORE": "0"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        services = InProcessServices(get_settings())
        handlers, level = logging.root.handlers[:], logging.root.level
        from api.app import create_app  # (importing it builds the module's app: logging set up once more)

        try:
            with TestClient(create_app(services)) as client:
                yield client, services
        finally:  # the gateway's JSON log handler writes to pytest's captured stream, closed after the tests
            logging.root.handlers[:], logging.root.level = handlers, level
            server_manager_instance.release_server(env["RAGWAY_MILVUS_URI"])  # else it logs at exit
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def keys(gateway):
    _, services = gateway
    return {role: services.keys.create("acme", role)[1] for role in Role} | {
        "other": services.keys.create("globex", Role.admin)[1]}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def kb(gateway, keys):
    client, services = gateway
    assert client.post("/v1/kbs", json={"name": "handbook"}, headers=auth(keys[Role.admin])).status_code == 201
    texts = ["Travel expenses must be submitted within 30 days of the trip.",
             "New employees get 15 days of annual leave."]
    doc = ids.document_id("acme", "handbook", "policy.md")
    vectors = services.embedder.embed(texts)
    services.store.upsert([Chunk(chunk_id=ids.chunk_id("acme", "handbook", doc, i), tenant="acme", kb="handbook",
                                 doc_id=doc, source="policy.md", page=0, chunk_index=i, content_hash="h", text=t,
                                 created_at=int(time.time() * 1000), metadata={"chunk_count": 2},
                                 embedding=vectors[i]) for i, t in enumerate(texts)])
    return "handbook"


def test_health_metrics_and_openapi(gateway):
    client, _ = gateway
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["milvus"] == "ok"
    assert 'ragway_http_request_seconds_count{method="GET",route="/readyz",status="200"}' in client.get("/metrics").text
    assert "/v1/search" in client.get("/openapi.json").json()["paths"]


def test_keys_roles_and_tenants(gateway, keys, kb):
    client, _ = gateway
    missing = client.get("/v1/kbs")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthenticated" and missing.headers["x-request-id"]
    assert client.get("/v1/kbs", headers=auth("rgw_nope_nope")).status_code == 401
    assert client.post("/v1/kbs", json={"name": "x"}, headers=auth(keys[Role.writer])).status_code == 403
    assert [k["name"] for k in client.get("/v1/kbs", headers=auth(keys[Role.reader])).json()] == ["handbook"]
    assert client.get("/v1/kbs", headers=auth(keys["other"])).json() == []  # another tenant sees nothing
    other = client.post("/v1/search", json={"kb": kb, "query": "travel"}, headers=auth(keys["other"]))
    assert other.status_code == 404


def test_search_and_ask_cite_the_passage(gateway, keys, kb):
    client, _ = gateway
    hits = client.post("/v1/search", json={"kb": kb, "query": "When are travel expenses due?"},
                       headers=auth(keys[Role.reader])).json()["hits"]
    assert hits[0]["source"] == "policy.md" and "30 days" in hits[0]["text"]
    answer = client.post("/v1/ask", json={"kb": kb, "question": "When are travel expenses due?"},
                         headers=auth(keys[Role.reader])).json()
    assert "30 days" in answer["answer"] and answer["grounded"] and answer["citations"][0]["source"] == "policy.md"
    assert client.post("/v1/search", json={"kb": "nope", "query": "x"},
                       headers=auth(keys[Role.reader])).status_code == 404
    documents = client.get(f"/v1/kbs/{kb}/documents", headers=auth(keys[Role.reader])).json()
    assert [(d["source"], d["chunks"]) for d in documents] == [("policy.md", 2)]


def test_client_mistakes_are_4xx_naming_the_problem(gateway, keys, kb):
    client, _ = gateway
    bad = client.post("/v1/search", json={"kb": kb}, headers=auth(keys[Role.reader]))
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "body.query"
    big = client.post("/v1/search", content=b'{"kb": "' + b"x" * 30000 + b'"}',
                      headers={**auth(keys[Role.reader]), "Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    mode = client.post("/v1/search", json={"kb": kb, "query": "x", "mode": "telepathy"},
                       headers=auth(keys[Role.reader]))
    assert mode.status_code == 422


def test_openai_chat_on_a_kb_and_the_plain_model(gateway, keys, kb):
    client, services = gateway
    reply = client.post("/v1/chat/completions", headers=auth(keys[Role.reader]), json={
        "model": f"kb:{kb}", "messages": [{"role": "user", "content": "How much annual leave do new employees get?"}]})
    body = reply.json()
    assert "15 days" in body["choices"][0]["message"]["content"] and body["sources"][0]["source"] == "policy.md"
    with client.stream("POST", "/v1/chat/completions", headers=auth(keys[Role.reader]), json={
            "model": f"kb:{kb}", "stream": True,
            "messages": [{"role": "user", "content": "Leave?"}, {"role": "assistant", "content": "15 days."},
                         {"role": "user", "content": "And travel expenses?"}]}) as streamed:
        events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and '"sources"' in events[-2]
    assert services.generator.questions[-1] == "15 days. And travel expenses?"  # condensed with the history
    plain = client.post("/v1/chat/completions", headers=auth(keys[Role.reader]), json={
        "model": services.settings.llm_model, "messages": [{"role": "user", "content": "hi"}]})
    assert plain.json()["choices"][0]["message"]["content"] == "plain"
    unknown = client.post("/v1/chat/completions", headers=auth(keys[Role.reader]), json={
        "model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]})
    assert unknown.status_code == 400 and "unknown model" in unknown.json()["error"]["message"]


def test_uploads_become_jobs_and_bad_files_fail_alone(gateway, keys, kb):
    client, services = gateway
    created = client.post(f"/v1/kbs/{kb}/documents", headers=auth(keys[Role.writer]),
                          files=[("files", ("notes.txt", b"Plain notes.", "text/plain")),
                                 ("files", ("broken.zip", b"PK\x03\x04 not really a zip", "application/zip"))])
    assert created.status_code == 202
    job = created.json()
    assert job["files"] == 2 and len(job["refused"]) == 1
    status = client.get(job["status_url"], headers=auth(keys[Role.reader])).json()
    assert {f["status"] for f in status["files"]} == {"queued", "failed"}
    assert services.redis.llen(services.settings.ingest_queue) == 1  # one batch sent to the workers' queue
    cancelled = client.post(f"/v1/jobs/{job['job_id']}/cancel", headers=auth(keys[Role.writer])).json()
    assert cancelled["status"] == "cancelled"
    actions = [e["action"] for e in client.get("/v1/audit", headers=auth(keys[Role.admin])).json()]
    assert {"kb.create", "job.create", "job.cancel"} <= set(actions)


def test_missing_kbs_are_404_in_every_service_and_document_deletes_are_audited(gateway, keys, kb):
    client, services = gateway
    reader = auth(keys[Role.reader])
    asked = client.post("/v1/ask", json={"kb": "nope", "question": "When are travel expenses due?"}, headers=reader)
    assert asked.status_code == 404 and asked.json()["error"]["code"] == "not_found"
    chat = client.post("/v1/chat/completions", headers=reader, json={
        "model": "kb:nope", "messages": [{"role": "user", "content": "Leave?"}]})
    assert chat.status_code == 404 and "nope" in chat.json()["error"]["message"]
    assert client.get("/v1/kbs/nope/documents", headers=reader).status_code == 404
    doc = ids.document_id("acme", kb, "policy.md")
    writer = auth(keys[Role.writer])
    assert client.delete(f"/v1/kbs/nope/documents/{doc}", headers=writer).status_code == 404
    assert client.delete(f"/v1/kbs/{kb}/documents/not-an-id", headers=writer).status_code == 400
    assert services.store.count("acme", kb, doc_id=doc) == 2  # (the last test of this file: it deletes them)
    assert client.delete(f"/v1/kbs/{kb}/documents/{doc}", headers=writer).status_code == 204
    assert services.store.count("acme", kb, doc_id=doc) == 0
    audit = client.get("/v1/audit", headers=auth(keys[Role.admin])).json()
    assert any(e["action"] == "document.delete" and e["target"] == f"{kb}/{doc}" for e in audit)


def test_key_changes_are_audited_and_a_revoked_key_fails_at_once(gateway, keys):
    client, _ = gateway
    admin = auth(keys[Role.admin])
    created = client.post("/v1/keys", json={"role": "reader", "name": "ci"}, headers=admin).json()
    assert client.get("/v1/kbs", headers=auth(created["key"])).status_code == 200
    assert client.delete(f"/v1/keys/{created['key_id']}", headers=admin).json()["key_id"] == created["key_id"]
    assert client.get("/v1/kbs", headers=auth(created["key"])).status_code == 401
    audit = [(e["action"], e["target"]) for e in client.get("/v1/audit", headers=admin).json()]
    assert ("key.create", created["key_id"]) in audit and ("key.revoke", created["key_id"]) in audit
    assert created["key"] not in client.get("/v1/keys", headers=admin).text  # the secret is shown once only
