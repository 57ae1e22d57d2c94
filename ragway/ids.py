"""Deterministic identifiers: the same input always names the same document and chunks,
so a re-run upserts in place instead of adding duplicates."""

from __future__ import annotations

import hashlib
import re

from ragway.errors import InvalidRequest

_SEP = "\x1f"  # unit separator: cannot appear in names users type, so fields never run together


def _digest(*parts: str) -> str:
    return hashlib.sha256(_SEP.join(parts).encode("utf-8")).hexdigest()[:32]


def document_id(tenant: str, kb: str, source: str) -> str:
    return _digest("doc", tenant, kb, source)


def chunk_id(tenant: str, kb: str, doc_id: str, chunk_index: int) -> str:
    return _digest("chunk", tenant, kb, doc_id, str(chunk_index))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Ids the server makes, by kind: hex of a fixed length. Checked before they name a Redis key or a
# Milvus row, so `<job id>:files` can never address another record.
ID_HEX_LENGTHS = {"job": 32, "file": 32, "document": 32, "API key": 12}


def require(kind: str, value: str) -> str:
    length = ID_HEX_LENGTHS[kind]
    if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise InvalidRequest(f"invalid {kind} id {shown!r}: expected {length} lowercase hex characters")
    return value
