"""Prometheus metrics and structured logs of the real gateway."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.integration.conftest import new_kb, wait_for_job


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_cover_requests_ingest_llm_and_queue(client, settings, tmp_path):
    before = httpx.get(f"{settings.gateway_url}/metrics").text
    kb = new_kb(client, "metrics")
    path = tmp_path / "m.txt"
    path.write_text("Metrics are scraped every fifteen seconds.")
    wait_for_job(client, client.upload(kb, [path])["job_id"])
    client.ask(kb, "How often are metrics scraped?")
    after = httpx.get(f"{settings.gateway_url}/metrics").text

    assert _metric(after, "ragway_ingest_files_total", status="done") >= _metric(before, "ragway_ingest_files_total",
                                                                                  status="done") + 1
    assert _metric(after, "ragway_ingest_chunks_total") > _metric(before, "ragway_ingest_chunks_total")
    assert _metric(after, "ragway_ingest_jobs_total") > _metric(before, "ragway_ingest_jobs_total")
    assert 'ragway_ingest_queue_depth{state="waiting"}' in after
    assert _metric(after, "ragway_llm_seconds_count", call="answer") > _metric(before, "ragway_llm_seconds_count",
                                                                              call="answer")
    assert _metric(after, "ragway_http_request_seconds_count", route="/v1/ask", status="200") >= 1
    assert _metric(after, "ragway_http_request_seconds_count", route="/v1/kbs/{kb}/documents", method="POST") >= 1


def test_logs_are_json_with_request_id_tenant_and_key_id_but_never_the_key(client, settings):
    request_id = uuid.uuid4().hex
    name = f"logged-{request_id[:8]}"
    resp = client.http.post("/v1/kbs", json={"name": name}, headers={"x-request-id": request_id})
    assert resp.status_code == 201 and resp.headers["x-request-id"] == request_id
    log_text = (settings.state_dir / "logs" / "gateway.log").read_text(errors="replace")
    lines = [json.loads(line) for line in log_text.splitlines() if request_id in line and line.startswith("{")]
    audit = [e for e in lines if e.get("audit", {}).get("action") == "kb.create"]
    assert audit, f"no audit line with request id {request_id}"
    event = audit[0]
    assert event["tenant"] == settings.default_tenant and event["key_id"] and event["audit"]["target"] == name
    assert client.api_key not in log_text


def _server_timing(resp: httpx.Response) -> dict[str, float]:
    phases = {}
    for part in resp.headers["server-timing"].split(","):
        name, _, dur = part.strip().partition(";dur=")
        phases[name] = float(dur)
    return phases


def test_server_timing_says_where_a_request_spent_its_time(client, settings, tmp_path):
    kb = new_kb(client, "timing")
    path = tmp_path / "t.txt"
    path.write_text("Backups run every night at two o'clock and are kept for thirty days.")
    wait_for_job(client, client.upload(kb, [path])["job_id"])
    search = client.http.post("/v1/search", json={"kb": kb, "query": "When do backups run?", "mode": "hybrid"})
    assert search.status_code == 200
    phases = _server_timing(search)
    assert {"auth", "embed", "milvus", "bm25", "total"} <= set(phases), phases
    assert all(v >= 0 for v in phases.values()) and phases["embed"] > 0 and phases["milvus"] > 0
    assert phases["total"] >= phases["embed"] + phases["milvus"]
    ask = client.http.post("/v1/ask", json={"kb": kb, "question": "When do backups run?"})
    assert ask.status_code == 200 and _server_timing(ask)["llm"] > 0
    health = httpx.get(f"{settings.gateway_url}/healthz")
    assert set(_server_timing(health)) == {"total"}  # no key check, no I/O
