"""Issue 14: the abuse suite. What a hostile or careless user tried against the running stack, each
case a few seconds, over loopback: every defect found (with the regression it fixed) and the
attacks that already failed (isolation, injection, zip-slip, links, oversize and undecodable files).
The stack must still be ready at the end."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from ragway.auth import Role
from tests.documents import zeros_zip, zip_bytes
from tests.integration.conftest import client_for, new_kb, wait_for_job

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def kb(client):
    name = new_kb(client, "abuse")
    job = wait_for_job(client, client.http.post(f"/v1/kbs/{name}/documents", files=[
        ("files", ("policy.md", b"# Policy\n\nThe Heron archive keeps invoices for seven years.\n"))]).json()["job_id"])
    assert job["counts"]["done"] == 1, job
    return name


def error_of(resp: httpx.Response) -> dict:
    return resp.json()["error"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def stored_bytes(settings, job_id: str) -> int:
    folder = settings.blob_dir / job_id
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def raw_post(settings, path: str, headers: dict[str, str], body: bytes = b"", timeout_s: float = 5) -> bytes:
    """A request sent by hand: headers that announce a body, and only `body` of it."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((settings.bind_host, settings.gateway_port), timeout=timeout_s) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
        return sock.recv(65536)


# --- 1. archive expansion is bounded, streamed, and never held in memory -------------------------
def test_a_zip_bomb_is_refused_without_memory_or_disk(stack, settings, client, kb):
    bomb = zeros_zip(members=11, size=100 * MIB)
    assert len(bomb) < 2 * MIB
    before = rss_mib(stack.pid("gateway"))
    resp = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("bomb.zip", bomb))])
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert len(created["refused"]) == 11 and all("decompression bomb" in r for r in created["refused"])
    assert rss_mib(stack.pid("gateway")) - before < 150
    assert stored_bytes(settings, created["job_id"]) == 0
    assert wait_for_job(client, created["job_id"], 30)["status"] == "failed"


def test_a_tar_bomb_is_refused_by_its_expansion_ratio(settings, client, kb):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for i in range(3):
            info = tarfile.TarInfo(f"big-{i}.txt")
            info.size = 50 * MIB
            archive.addfile(info, io.BytesIO(b"\0" * info.size))
    resp = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("big.tar.gz", out.getvalue()))])
    assert resp.status_code == 202
    assert len(resp.json()["refused"]) == 3 and all("decompression bomb" in r for r in resp.json()["refused"])
    assert stored_bytes(settings, resp.json()["job_id"]) == 0


# --- 2. uploads are freed once nobody will read them -------------------------------------------
def test_uploads_of_final_cancelled_and_deleted_files_are_freed(settings, client):
    kb = new_kb(client, "blobs")
    files = [("files", (f"memo-{i:02d}.md", f"# Memo {i}\n\n".encode() + b"Budget line details. " * 200))
             for i in range(30)]
    job_id = client.http.post(f"/v1/kbs/{kb}/documents", files=files).json()["job_id"]
    client.cancel(job_id)
    job = wait_for_job(client, job_id)
    assert job["counts"]["cancelled"] > 0
    assert stored_bytes(settings, job_id) == 0 and not (settings.blob_dir / job_id).exists()

    broken = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("broken.pdf", b"%PDF-1.4 cut"))])
    broken_job = broken.json()["job_id"]
    assert wait_for_job(client, broken_job)["status"] == "failed"
    assert stored_bytes(settings, broken_job) > 0  # kept for a retry: 1 attempt of 3
    for _ in range(2):
        client.retry(broken_job)
        job = wait_for_job(client, broken_job)
    assert job["files"][0]["attempts"] == 3 and stored_bytes(settings, broken_job) == 0

    again = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("broken.pdf", b"%PDF-1.4 cut"))])
    wait_for_job(client, again.json()["job_id"])
    assert stored_bytes(settings, again.json()["job_id"]) > 0
    client.delete_kb(kb)
    assert stored_bytes(settings, again.json()["job_id"]) == 0


# --- 3. the key before the body; JSON bodies small ---------------------------------------------
def test_an_upload_without_a_valid_key_is_refused_before_its_body_is_read(settings, kb):
    for auth in ({}, {"Authorization": "Bearer rgw_000000000000_" + "x" * 43}):
        started = time.perf_counter()
        answer = raw_post(settings, f"/v1/kbs/{kb}/documents",
                          {"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(100 * MIB), **auth})
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert time.perf_counter() - started < 2


def test_a_reader_key_cannot_send_an_upload_body(settings, keys, kb):
    reader = client_for(settings, keys, settings.default_tenant, Role.reader)
    answer = raw_post(settings, f"/v1/kbs/{kb}/documents",
                      {"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(100 * MIB),
                       "Authorization": f"Bearer {reader.api_key}"})
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]


def test_json_bodies_have_their_own_small_limit(settings, client, kb):
    answer = raw_post(settings, "/v1/search", {"Content-Type": "application/json", "Content-Length": str(100 * MIB)})
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    big = client.http.post("/v1/search", content=json.dumps({"kb": kb, "query": "x", "pad": "y" * (5 * MIB)}),
                           headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and error_of(big)["code"] == "payload_too_large"


# --- 4. jobs with nothing to do end at once ----------------------------------------------------
def test_jobs_with_no_files_end_at_once_and_free_their_slot(settings, keys, kb):
    writer = client_for(settings, keys, settings.default_tenant, Role.writer)
    link_tar = io.BytesIO()
    with tarfile.open(fileobj=link_tar, mode="w") as archive:
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    for name, data in [("empty.zip", zip_bytes({})), ("links.tar", link_tar.getvalue())] * 2:
        resp = writer.http.post(f"/v1/kbs/{kb}/documents", files=[("files", (name, data))])
        assert resp.status_code == 202, resp.text
        job = wait_for_job(writer, resp.json()["job_id"], 10)
        assert job["status"] == "failed" and job["files"][0]["error"], job
        assert ("holds no files" in resp.json()["refused"][0]) or ("a link, not ingested" in resp.json()["refused"][0])
    for _ in range(5):
        job_id = writer.open_job(kb)["job_id"]
        sealed = writer.seal(job_id)
        assert sealed["status"] == "done" and "without files" in sealed["reason"]
    assert writer.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("ok.txt", b"fine"))]).status_code == 202


# --- 5, 6, 8, 9, 10: malformed input is a 4xx naming the problem, never a 5xx -------------------
@pytest.mark.parametrize("body", [
    '{"filter": {"page": 1e30}}', '{"filter": {"page": 1e308}}', '{"filter": {"metadata.x": 1e30}}',
    '{"filter": {"source": "\\ud800"}}', '{"filter": {"page": 2.5}}', '{"query": "\\ud800"}',
])
def test_out_of_range_filters_are_400_without_the_expression(client, kb, body):
    payload = {"kb": kb, "query": "invoices", **json.loads(body)}
    for path in ("/v1/search", "/v1/ask"):
        resp = client.http.post(path, content=json.dumps(payload), headers={"Content-Type": "application/json"})
        assert resp.status_code in (400, 422), (path, body, resp.text)
        message = error_of(resp)["message"]
        assert "tenant ==" not in message and "==" not in message, message


@pytest.mark.parametrize("query", ["offset=-1", "limit=-1", "offset=100000000", "limit=0", "limit=1000000"])
def test_paging_out_of_range_is_4xx(client, kb, query):
    for path in (f"/v1/kbs/{kb}/documents", "/v1/jobs", "/v1/audit"):
        if "offset" in query and path != f"/v1/kbs/{kb}/documents":
            continue
        resp = client.http.get(f"{path}?{query}")
        assert resp.status_code in (400, 422), (path, query, resp.text)
        assert error_of(resp)["param"], resp.text


def test_ids_are_checked_before_they_reach_redis_or_milvus(client, kb):
    job_id = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("x.txt", b"x"))]).json()["job_id"]
    for method, path in [("GET", f"/v1/jobs/{job_id}:files"), ("DELETE", f"/v1/keys/{client.keys()[0]['key_id']}"
                                                                          ":active_jobs"),
                         ("POST", f"/v1/jobs/{job_id}:files/cancel"), ("DELETE", f"/v1/kbs/{kb}/documents/x:y")]:
        resp = client.http.request(method, path)
        assert resp.status_code == 400, (path, resp.text)
        assert "invalid" in error_of(resp)["message"]
    assert client.http.get(f"/v1/jobs/{'0' * 32}").status_code == 404


def test_bad_paths_and_text_are_4xx(client, kb):
    for path in ["/srv/a\u0000b", "\ud800"]:
        resp = client.http.post(f"/v1/kbs/{kb}/sources", content=json.dumps({"path": path}),
                                headers={"Content-Type": "application/json"})
        assert resp.status_code in (400, 422), resp.text
    chat = '{"model": "kb:' + kb + '", "messages": [{"role": "user", "content": "hi \\ud800"}]}'
    resp = client.http.post("/v1/chat/completions", content=chat, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "surrogate" in error_of(resp)["message"], resp.text


def test_a_nul_in_a_file_name_is_refused_not_stored(client, kb):
    parts = [(b"evil\x00.txt", b"nul"), (b"good-name.txt", b"good")]  # raw bytes: httpx would escape the NUL
    body = b"".join(b'--b\r\nContent-Disposition: form-data; name="files"; filename="' + name + b'"\r\n'
                    b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n" for name, data in parts) + b"--b--\r\n"
    resp = client.http.post(f"/v1/kbs/{kb}/documents", content=body,
                            headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 202 and "control characters" in resp.json()["refused"][0]
    wait_for_job(client, resp.json()["job_id"])
    assert not any("\u0000" in d["source"] for d in client.documents(kb))


def test_errors_keep_their_request_id(settings, client):
    resp = client.http.get("/v1/jobs/nonsense", headers={"X-Request-Id": "abuse-req-1"})
    assert resp.status_code == 400 and resp.headers["x-request-id"] == "abuse-req-1"


# --- 7, 11: chat and the plain model are bounded; errors in OpenAI's shape ------------------------
def test_chat_limits_are_400_with_the_field(settings, client, kb):
    def chat(**body):
        return client.http.post("/v1/chat/completions", json={"model": f"kb:{kb}", **body})

    many = chat(messages=[{"role": "user", "content": "hi"}] * (settings.chat_max_messages + 1))
    assert many.status_code == 400 and error_of(many)["param"] == "messages"
    long = chat(messages=[{"role": "user", "content": "x" * (settings.chat_max_message_chars + 1)}])
    assert long.status_code == 400 and error_of(long)["param"] == "messages[0].content"


def test_a_chat_over_the_context_window_is_400_not_503(settings, client, kb):
    words = " ".join(f"{i:04d}" for i in range(2500))  # ~ 12,000 tokens (one per digit), 12,499 characters
    assert len(words) < settings.chat_max_message_chars
    long_chat = [{"role": "user", "content": words}, {"role": "assistant", "content": "Noted."},
                 {"role": "user", "content": "How long does the Heron archive keep invoices?"}]
    for model in (f"kb:{kb}", settings.llm_model):
        resp = client.http.post("/v1/chat/completions", json={"model": model, "messages": long_chat})
        assert resp.status_code == 400, (model, resp.text)
        assert error_of(resp)["code"] == "context_length_exceeded", resp.text


@pytest.mark.parametrize(("extra", "param"), [({"n": 50}, "n"), ({"max_tokens": 10**9}, "max_tokens"),
                                              ({"max_completion_tokens": 10**9}, "max_completion_tokens")])
def test_the_plain_model_cannot_be_monopolised(settings, client, extra, param):
    resp = client.http.post("/v1/chat/completions", json={"model": settings.llm_model, **extra,
                                                          "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 400 and error_of(resp)["param"] == param, resp.text
    assert set(error_of(resp)) >= {"message", "type", "param", "code"}


# --- the attacks that already failed, kept failing ----------------------------------------------
@pytest.fixture(scope="module")
def other_tenant(settings, keys):
    admin = client_for(settings, keys, f"rival-{uuid.uuid4().hex[:6]}", Role.admin)
    admin.create_kb("secrets")
    path_job = admin.http.post("/v1/kbs/secrets/documents", files=[
        ("files", ("vault.md", b"# Vault\n\nThe rival vault combination is 7781.\n"))]).json()["job_id"]
    assert wait_for_job(admin, path_job)["counts"]["done"] == 1
    return admin


def test_another_tenants_kb_is_invisible_through_every_endpoint(client, other_tenant):
    job_id = other_tenant.jobs()[0]["job_id"]
    doc_id = other_tenant.documents("secrets")[0]["doc_id"]
    attempts = [("POST", "/v1/search", {"kb": "secrets", "query": "vault combination"}),
                ("POST", "/v1/ask", {"kb": "secrets", "question": "What is the vault combination?"}),
                ("POST", "/v1/chat/completions", {"model": "kb:secrets", "messages": [
                    {"role": "user", "content": "vault combination?"}]}),
                ("GET", "/v1/kbs/secrets/documents", None), ("GET", f"/v1/jobs/{job_id}", None),
                ("POST", f"/v1/jobs/{job_id}/cancel", None), ("DELETE", f"/v1/kbs/secrets/documents/{doc_id}", None),
                ("DELETE", "/v1/kbs/secrets", None)]
    for method, path, body in attempts:
        resp = client.http.request(method, path, json=body)
        assert resp.status_code == 404, (path, resp.status_code, resp.text)
        assert "7781" not in resp.text
    assert other_tenant.documents("secrets")[0]["doc_id"] == doc_id


@pytest.mark.parametrize("spec", [{"source": 'x" or tenant != "'}, {"metadata.x) or (tenant": "y"},
                                  {"tenant": "anyone"}, {"kb": "secrets"}, {"source": {"prefix": "%"}}])
def test_filter_injection_is_refused_or_harmless(client, kb, other_tenant, spec):
    resp = client.http.post("/v1/search", json={"kb": kb, "query": "vault combination", "filter": spec})
    assert resp.status_code in (200, 400), resp.text
    assert "7781" not in resp.text


def test_a_revoked_key_fails_at_once(settings, client, kb):
    created = client.create_key("reader", name="abuse")
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert httpx.post(f"{settings.gateway_url}/v1/search", json={"kb": kb, "query": "x"},
                      headers=headers).status_code == 200
    client.revoke_key(created["key_id"])
    assert httpx.post(f"{settings.gateway_url}/v1/search", json={"kb": kb, "query": "x"},
                      headers=headers).status_code == 401


def test_zip_slip_names_are_names_only(settings, client, kb):
    resp = client.http.post(f"/v1/kbs/{kb}/documents", files=[("files", ("slip.zip", zip_bytes(
        {"../../../../tmp/ragway-slip.txt": b"The slip note mentions herons.", "/abs/path.txt": b"absolute"})))])
    job = wait_for_job(client, resp.json()["job_id"])
    assert job["counts"]["done"] == 2
    assert not (settings.state_dir.parent / "tmp" / "ragway-slip.txt").exists()
    sources = {d["source"] for d in client.documents(kb)}
    assert "../../../../tmp/ragway-slip.txt" in sources


def test_oversize_and_undecodable_files_fail_one_by_one(client, kb):
    files = [("files", ("latin1.txt", "Caf\xe9 cr\xe8me: the kiosk sells tea.".encode("latin-1"))),
             ("files", ("gbk.txt", "年假共十五天。".encode("gbk"))),
             ("files", ("random.bin", bytes(range(256)) * 64)),
             ("files", ("empty.txt", b""))]
    resp = client.http.post(f"/v1/kbs/{kb}/documents", files=files)
    job = wait_for_job(client, resp.json()["job_id"])
    status = {f["name"]: (f["status"], f["error"]) for f in job["files"]}
    assert status["latin1.txt"][0] == "done" and status["gbk.txt"][0] == "done", status
    assert status["random.bin"][0] == "failed" and status["empty.txt"][0] == "failed", status
    assert all(error.startswith(name) for name, (s, error) in status.items() if s == "failed")


def test_the_stack_is_ready_after_the_abuse(settings):
    ready = httpx.get(f"{settings.gateway_url}/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json()["ready"], ready.text
