"""A small HTTP client for the gateway, used by the CLI (and usable from scripts)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import httpx


class GatewayError(RuntimeError):
    pass


class GatewayClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 300):
        self.api_key = api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise GatewayError(f"{response.status_code} {err['code']}: {err['message']}")
            except (ValueError, KeyError, TypeError):
                raise GatewayError(f"{response.status_code}: {response.text[:500]}") from None
        return response.json()

    @staticmethod
    def _multipart(paths: list[Path], names: list[str] | None) -> list:
        names = names or [p.name for p in paths]
        return [("files", (name, p.read_bytes(), mimetypes.guess_type(name)[0] or "application/octet-stream"))
                for p, name in zip(paths, names, strict=True)]

    def create_kb(self, name: str, description: str = "") -> dict:
        return self._json(self.http.post("/v1/kbs", json={"name": name, "description": description}))

    def kbs(self) -> list[dict]:
        return self._json(self.http.get("/v1/kbs"))

    def create_key(self, role: str, name: str = "") -> dict:
        return self._json(self.http.post("/v1/keys", json={"role": role, "name": name}))

    def keys(self) -> list[dict]:
        return self._json(self.http.get("/v1/keys"))

    def revoke_key(self, key_id: str) -> dict:
        return self._json(self.http.delete(f"/v1/keys/{key_id}"))

    def upload(self, kb: str, paths: list[Path], names: list[str] | None = None) -> dict:
        """One request, one sealed job."""
        return self._json(self.http.post(f"/v1/kbs/{kb}/documents", files=self._multipart(paths, names)))

    def open_job(self, kb: str) -> dict:
        return self._json(self.http.post("/v1/jobs", json={"kb": kb}))

    def add_files(self, job_id: str, paths: list[Path], names: list[str] | None = None) -> dict:
        return self._json(self.http.post(f"/v1/jobs/{job_id}/files", files=self._multipart(paths, names)))

    def seal(self, job_id: str) -> dict:
        return self._json(self.http.post(f"/v1/jobs/{job_id}/seal"))

    def job(self, job_id: str, files: bool = True) -> dict:
        return self._json(self.http.get(f"/v1/jobs/{job_id}", params={"files": files}))

    def jobs(self, limit: int = 20) -> list[dict]:
        return self._json(self.http.get("/v1/jobs", params={"limit": limit}))

    def cancel(self, job_id: str) -> dict:
        return self._json(self.http.post(f"/v1/jobs/{job_id}/cancel"))

    def retry(self, job_id: str) -> dict:
        return self._json(self.http.post(f"/v1/jobs/{job_id}/retry"))

    def ingest_server_folder(self, kb: str, path: str, include: list[str], exclude: list[str]) -> dict:
        body = {"path": path, "include": include, "exclude": exclude}
        return self._json(self.http.post(f"/v1/kbs/{kb}/sources", json=body))

    def documents(self, kb: str, limit: int = 100, offset: int = 0) -> list[dict]:
        return self._json(self.http.get(f"/v1/kbs/{kb}/documents", params={"limit": limit, "offset": offset}))

    def delete_document(self, kb: str, doc_id: str) -> None:
        self._check(self.http.delete(f"/v1/kbs/{kb}/documents/{doc_id}"))

    def delete_kb(self, kb: str) -> None:
        self._check(self.http.delete(f"/v1/kbs/{kb}"))

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            self._json(response)

    def search(self, kb: str, query: str, top_k: int | None = None, **options: Any) -> dict:
        """`options`: mode, score_threshold, filter (see the gateway's OpenAPI document); what is not given
        (top_k, mode) is the server's default (RAGWAY_TOP_K, RAGWAY_RETRIEVAL_MODE)."""
        body = {"kb": kb, "query": query, **({"top_k": top_k} if top_k is not None else {}), **options}
        return self._json(self.http.post("/v1/search", json=body))

    def ask(self, kb: str, question: str, **options: Any) -> dict:
        body = {"kb": kb, "question": question, **options}
        return self._json(self.http.post("/v1/ask", json=body))
