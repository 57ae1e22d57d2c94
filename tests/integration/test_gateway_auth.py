"""API keys, roles and tenant isolation, through every endpoint of the real gateway."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ragway.auth import Role
from tests.integration.conftest import client_for, wait_for_job

FACTS = {
    "acme": "The Falcon office door code is 4417. Visitors sign in at the Acme front desk.",
    "globex": "The Falcon office door code is 9932. Visitors sign in at the Globex front desk.",
}


@pytest.fixture(scope="module")
def tenants(settings, keys, tmp_path_factory):
    """Two tenants with the same kb name and similar documents; globex has one more kb."""
    out = {}
    for name, fact in FACTS.items():
        tenant = f"{name}-{uuid.uuid4().hex[:6]}"
        admin = client_for(settings, keys, tenant, Role.admin)
        admin.create_kb("handbook")
        path = tmp_path_factory.mktemp(name) / f"{name}-office.md"
        path.write_text(f"# {name} office\n\n{fact}\n")
        job = wait_for_job(admin, admin.upload("handbook", [path])["job_id"])
        assert job["counts"]["done"] == 1, job
        out[name] = {"tenant": tenant, "admin": admin, "source": path.name, "job_id": job["job_id"],
                     "doc_id": job["files"][0]["doc_id"]}
    out["globex"]["admin"].create_kb("globex-only")
    return out


def _error(resp: httpx.Response) -> dict:
    return resp.json()["error"]


def test_requests_without_a_valid_key_get_401_json(settings):
    base = settings.gateway_url
    missing = httpx.post(f"{base}/v1/search", json={"kb": "handbook", "query": "x"})
    assert missing.status_code == 401 and _error(missing)["code"] == "unauthenticated"
    assert "Authorization: Bearer" in _error(missing)["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    for token in ("nonsense", "rgw_000000000000_" + "x" * 43):
        bad = httpx.get(f"{base}/v1/kbs", headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 401, bad.text
    assert httpx.get(f"{base}/healthz").status_code == 200  # health checks stay open


def test_a_key_revoked_right_after_its_searches_gets_no_more_results(tenants, settings):
    """The gateway starts a recently verified key's search before its check ends (api/deps.py):
    a revoked key must still get a 401 and not a single hit, however recently it searched."""
    admin = tenants["acme"]["admin"]
    created = admin.create_key("reader", name="searcher")
    headers = {"Authorization": f"Bearer {created['key']}"}
    url, body = f"{settings.gateway_url}/v1/search", {"kb": "handbook", "query": "door code"}
    for _ in range(3):
        assert httpx.post(url, json=body, headers=headers).json()["hits"]
    discarded = _search_ahead(settings, "discarded")
    admin.revoke_key(created["key_id"])
    for _ in range(3):
        refused = httpx.post(url, json=body, headers=headers)
        assert refused.status_code == 401 and "revoked" in _error(refused)["message"]
        assert "hits" not in refused.json() and "door" not in refused.text
    # The first refused search had started ahead (the key had just passed); after that, none does.
    assert _search_ahead(settings, "discarded") == discarded + 1


def _search_ahead(settings, outcome: str) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{settings.gateway_url}/metrics").text):
        for sample in family.samples:
            if sample.name == "ragway_search_ahead_total" and sample.labels["outcome"] == outcome:
                return sample.value
    return 0.0


def test_roles_limit_what_a_key_may_do(tenants, settings, keys, tmp_path):
    tenant = tenants["acme"]["tenant"]
    reader = client_for(settings, keys, tenant, Role.reader)
    writer = client_for(settings, keys, tenant, Role.writer)
    path = tmp_path / "more.txt"
    path.write_text("Parking is behind the building.")

    tenants["acme"]["admin"].create_kb("scratch")
    assert reader.search("handbook", "door code")["hits"]
    denied = reader.http.post("/v1/kbs/scratch/documents", files=[("files", ("more.txt", b"x"))])
    assert denied.status_code == 403 and _error(denied)["code"] == "forbidden"
    assert "writer" in _error(denied)["message"]
    assert writer.http.post("/v1/keys", json={"role": "reader"}).status_code == 403
    assert writer.http.post("/v1/kbs", json={"name": "newkb"}).status_code == 403
    assert wait_for_job(writer, writer.upload("scratch", [path])["job_id"])["counts"]["done"] == 1
    assert writer.http.delete("/v1/kbs/scratch").status_code == 403


def test_admin_creates_lists_and_revokes_keys_and_a_revoked_key_fails_at_once(tenants, settings):
    admin = tenants["acme"]["admin"]
    created = admin.create_key("reader", name="dashboard")
    token = created["key"]
    assert token.startswith("rgw_") and created["role"] == "reader"
    listed = admin.keys()
    assert created["key_id"] in {k["key_id"] for k in listed}
    assert all("key" not in k and "digest" not in k for k in listed)
    assert token not in str(listed)

    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{settings.gateway_url}/v1/kbs", headers=headers).status_code == 200
    assert admin.revoke_key(created["key_id"])["revoked_at"] is not None
    after = httpx.get(f"{settings.gateway_url}/v1/kbs", headers=headers)
    assert after.status_code == 401 and "revoked" in _error(after)["message"]

    other_tenant = tenants["globex"]["admin"]
    assert other_tenant.http.delete(f"/v1/keys/{created['key_id']}").status_code == 404

    actions = [(e["action"], e["target"]) for e in admin.http.get("/v1/audit").json()]
    assert ("key.create", created["key_id"]) in actions and ("key.revoke", created["key_id"]) in actions
    assert ("kb.create", "handbook") in actions


def test_each_tenant_searches_asks_and_chats_only_its_own_documents(tenants):
    for name, other in (("acme", "globex"), ("globex", "acme")):
        client = tenants[name]["admin"]
        hits = client.search("handbook", "Falcon office door code", top_k=10)["hits"]
        assert hits and {h["source"] for h in hits} == {tenants[name]["source"]}
        assert all(FACTS[other].split(".")[0] not in h["text"] for h in hits)

        answer = client.ask("handbook", "What is the Falcon office door code?")
        assert {s["source"] for s in answer["sources"]} == {tenants[name]["source"]}

        chat = client.http.post("/v1/chat/completions", json={
            "model": "kb:handbook", "messages": [{"role": "user", "content": "What is the door code?"}]}).json()
        assert {s["source"] for s in chat["sources"]} == {tenants[name]["source"]}

        docs = client.documents("handbook")
        assert [d["source"] for d in docs] == [tenants[name]["source"]]


def test_models_jobs_and_kbs_are_per_tenant(tenants):
    acme, globex = tenants["acme"]["admin"], tenants["globex"]["admin"]
    acme_models = {m["id"] for m in acme.http.get("/v1/models").json()["data"]}
    globex_models = {m["id"] for m in globex.http.get("/v1/models").json()["data"]}
    assert "kb:handbook" in acme_models and "kb:globex-only" not in acme_models
    assert {"kb:handbook", "kb:globex-only"} <= globex_models
    assert acme.http.get(f"/v1/jobs/{tenants['globex']['job_id']}").status_code == 404
    assert tenants["globex"]["job_id"] not in {j["job_id"] for j in acme.jobs(100)}
    assert acme.http.get("/v1/kbs/globex-only").status_code == 404
    assert acme.http.post("/v1/search", json={"kb": "globex-only", "query": "x"}).status_code == 404


def test_no_request_field_widens_the_tenant(tenants):
    acme, globex = tenants["acme"], tenants["globex"]
    client = acme["admin"]
    for bad_filter in ({"tenant": globex["tenant"]}, {"kb": "handbook"}, {"source": {"regex": ".*"}},
                       {"page": '1 or tenant != ""'}, {"metadata.x) or (1": 1}):
        resp = client.http.post("/v1/search", json={"kb": "handbook", "query": "door code", "filter": bad_filter})
        assert resp.status_code == 400, (bad_filter, resp.text)
    injected = client.http.post("/v1/search", json={"kb": "handbook", "query": "door code",
                                                     "filter": {"source": f'x" or tenant == "{globex["tenant"]}'}})
    assert injected.status_code == 200 and injected.json()["hits"] == []
    narrowed = client.search("handbook", "door code", filter={"source": acme["source"], "page": {"gte": 0}})
    assert {h["source"] for h in narrowed["hits"]} == {acme["source"]}

    # Deleting the other tenant's document id through one's own kb of the same name deletes nothing.
    assert client.http.delete(f"/v1/kbs/handbook/documents/{globex['doc_id']}").status_code == 204
    assert [d["doc_id"] for d in globex["admin"].documents("handbook")] == [globex["doc_id"]]


def test_a_deleted_kb_is_gone_from_search_at_once(tenants, tmp_path):
    admin = tenants["acme"]["admin"]
    admin.create_kb("fleeting")
    path = tmp_path / "fleeting.md"
    path.write_text("The Falcon office door code is 4417. The fleeting kb says so too.")
    assert wait_for_job(admin, admin.upload("fleeting", [path])["job_id"])["counts"]["done"] == 1
    assert admin.search("fleeting", "door code")["hits"]
    assert admin.http.delete("/v1/kbs/fleeting").status_code == 204
    gone = admin.http.post("/v1/search", json={"kb": "fleeting", "query": "door code"})
    assert gone.status_code == 404 and _error(gone)["code"] == "not_found", gone.text
    # An existing kb where nothing matches is not "missing".
    empty = admin.http.post("/v1/search", json={"kb": "handbook", "query": "door code", "filter": {"page": 999}})
    assert empty.status_code == 200 and empty.json()["hits"] == []
