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

    def upload(self, kb: str, paths: list[Path], names: list[str] | None = None) -> dict:
        names = names or [p.name for p in paths]
        files = [("files", (name, p.read_bytes(), mimetypes.guess_type(name)[0] or "application/octet-stream"))
                 for p, name in zip(paths, names, strict=True)]
        return self._json(self.http.post(f"/v1/kbs/{kb}/documents", files=files))

    def job(self, job_id: str) -> dict:
        return self._json(self.http.get(f"/v1/jobs/{job_id}"))

    def search(self, kb: str, query: str, top_k: int = 5) -> dict:
        return self._json(self.http.post("/v1/search", json={"kb": kb, "query": query, "top_k": top_k}))

    def ask(self, kb: str, question: str, top_k: int = 5) -> dict:
        return self._json(self.http.post("/v1/ask", json={"kb": kb, "question": question, "top_k": top_k}))
