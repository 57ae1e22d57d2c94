"""Deterministic identifiers: the same input always names the same document and chunks,
so a re-run upserts in place instead of adding duplicates."""

from __future__ import annotations

import hashlib

_SEP = "\x1f"  # unit separator: cannot appear in names users type, so fields never run together


def _digest(*parts: str) -> str:
    return hashlib.sha256(_SEP.join(parts).encode("utf-8")).hexdigest()[:32]


def document_id(tenant: str, kb: str, source: str) -> str:
    return _digest("doc", tenant, kb, source)


def chunk_id(tenant: str, kb: str, doc_id: str, chunk_index: int) -> str:
    return _digest("chunk", tenant, kb, doc_id, str(chunk_index))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
