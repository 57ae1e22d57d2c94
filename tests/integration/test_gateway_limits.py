"""Per-key limits shared through Redis by gateway replicas, size limits and request timeouts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ragway.apps.client import GatewayClient
from ragway.auth import Role
from tests.integration.conftest import extra_gateway, wait_for_job

REPLICA_PORT = 8093
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def replica(settings):
    """A second gateway with a 1 MiB request limit and a 1 s timeout."""
    with extra_gateway(settings, REPLICA_PORT, max_request_bytes=str(MIB), request_timeout_s="1") as url:
        yield url


@pytest.fixture(scope="module")
def tenant(settings, keys):
    name = f"limits-{uuid.uuid4().hex[:6]}"
    _, token = keys.create(name, Role.admin, "limits admin")
    admin = GatewayClient(settings.gateway_url, api_key=token)
    admin.create_kb("kb")
    return name


def test_requests_per_minute_are_counted_across_replicas(settings, keys, tenant, replica):
    _, token = keys.create(tenant, Role.reader, "rate limited", requests_per_minute=6)
    headers = {"Authorization": f"Bearer {token}"}
    codes = [httpx.get(f"{base}/v1/kbs", headers=headers).status_code
             for base in [settings.gateway_url, replica] * 3]
    refused = httpx.get(f"{replica}/v1/kbs", headers=headers)
    if codes != [200] * 6:  # the one-minute window turned over between the calls: count again
        codes = [httpx.get(f"{base}/v1/kbs", headers=headers).status_code for base in [settings.gateway_url] * 6]
        refused = httpx.get(f"{replica}/v1/kbs", headers=headers)
    assert refused.status_code == 429, codes
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert "retry in" in refused.json()["error"]["message"]


def test_a_wrong_secret_does_not_spend_a_keys_budget(settings, keys, tenant):
    key, token = keys.create(tenant, Role.reader, "budget", requests_per_minute=3)
    forged = {"Authorization": f"Bearer rgw_{key.key_id}_{'x' * 43}"}  # the public key id, a guessed secret
    assert [httpx.get(f"{settings.gateway_url}/v1/kbs", headers=forged).status_code for _ in range(5)] == [401] * 5
    good = {"Authorization": f"Bearer {token}"}
    codes = [httpx.get(f"{settings.gateway_url}/v1/kbs", headers=good).status_code for _ in range(4)]
    if codes != [200, 200, 200, 429]:  # the one-minute window turned over between the calls: count again
        codes = [httpx.get(f"{settings.gateway_url}/v1/kbs", headers=good).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_searches_count_against_the_budget_too(settings, keys, tenant):
    _, token = keys.create(tenant, Role.reader, "search budget", requests_per_minute=3)
    headers = {"Authorization": f"Bearer {token}"}

    def searches() -> list[int]:
        return [httpx.post(f"{settings.gateway_url}/v1/search", json={"kb": "kb", "query": "anything"},
                           headers=headers).status_code for _ in range(5)]

    codes = searches()
    if codes != [200, 200, 200, 429, 429]:  # the one-minute window turned over between the calls
        codes = searches()
    assert codes == [200, 200, 200, 429, 429]


def test_concurrent_ingest_jobs_per_key(settings, keys, tenant, tmp_path):
    _, token = keys.create(tenant, Role.writer, "one job at a time", concurrent_jobs=1)
    writer = GatewayClient(settings.gateway_url, api_key=token)
    first = writer.open_job("kb")["job_id"]  # open: unfinished until sealed
    second = writer.http.post("/v1/jobs", json={"kb": "kb"})
    assert second.status_code == 429 and "unfinished ingest jobs" in second.json()["error"]["message"]
    assert int(second.headers["retry-after"]) > 0
    path = tmp_path / "a.txt"
    path.write_text("A short note.")
    writer.add_files(first, [path])
    writer.seal(first)
    assert wait_for_job(writer, first)["status"] == "done"
    assert writer.http.post("/v1/jobs", json={"kb": "kb"}).status_code == 201


def test_request_and_file_size_limits(settings, keys, tenant, replica):
    _, token = keys.create(tenant, Role.writer, "uploader")
    headers = {"Authorization": f"Bearer {token}"}
    files = [("files", (f"part{i}.txt", b"x" * (600 * 1024))) for i in range(2)]
    too_big = httpx.post(f"{replica}/v1/kbs/kb/documents", files=files, headers=headers)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    assert "1 MiB" in too_big.json()["error"]["message"]
    one = httpx.post(f"{replica}/v1/kbs/kb/documents", files=files[:1], headers=headers)
    assert one.status_code == 202, one.text


def test_slow_requests_get_504_with_a_clear_error(settings, keys, tenant, replica):
    _, token = keys.create(tenant, Role.reader, "patient")
    # The first search on a fresh replica loads the embedding model: well over the 1 s limit.
    slow = httpx.post(f"{replica}/v1/ask", json={"kb": "kb", "question": "What is in the note?"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert slow.status_code == 504 and slow.json()["error"]["code"] == "timeout"
    assert "longer than 1 s" in slow.json()["error"]["message"]
