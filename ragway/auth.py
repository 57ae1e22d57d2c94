"""API keys: each bound to one tenant and one role, stored in Redis only as a hash.

A key reads `rgw_<key id>_<secret>`. The key id is public (logs, audit, admin listings); the
secret is 256 random bits, so a plain SHA-256 of the whole key is a safe verifier (slow password
hashes only matter for guessable secrets). Every request looks its key up again, so a revoked key
fails at once on every gateway replica.

Keys: `ragway:apikey:<key id>` (hash) and `ragway:tenant:<tenant>:apikeys` (set of key ids)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from enum import StrEnum

import redis
import redis.asyncio
from pydantic import BaseModel, Field

from ragway import filters, ids, redis_keys
from ragway.audit import AuditLog
from ragway.errors import Forbidden, NotFound, Unauthenticated
from ragway.redis_client import redis_errors

TOKEN_PREFIX = "rgw"
KEY_ID = re.compile(f"[0-9a-f]{{{ids.ID_HEX_LENGTHS['API key']}}}")


class Role(StrEnum):
    """Each role includes the rights of the ones before it."""

    reader = "reader"  # search, ask, chat, list documents and jobs
    writer = "writer"  # + ingest, delete documents, cancel and retry jobs
    admin = "admin"  # + API keys and knowledge bases of its tenant

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class ApiKey(BaseModel):
    key_id: str
    tenant: str
    role: Role
    name: str = ""
    created_at: float = Field(..., description="Unix epoch seconds")
    revoked_at: float | None = None
    requests_per_minute: int | None = Field(None, description="This key's limit; none = the server's default")
    concurrent_jobs: int | None = Field(None, description="This key's limit; none = the server's default")


class Caller(BaseModel):
    """Who is making a request, as established from the API key."""

    key_id: str
    tenant: str
    role: Role
    requests_per_minute: int | None = None
    concurrent_jobs: int | None = None

    def require(self, role: Role) -> Caller:
        if not self.role.allows(role):
            raise Forbidden(f"this API key has the role '{self.role}'; the request needs '{role}' or above")
        return self


def token_digest(token: str) -> str:
    """How a key is stored and recognised: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


# One round trip for the check every request makes: the key's record and, for the right digest
# only, its request counter. The verdict on the record is still made in Python (`_caller_of`).
_CHECK_AND_COUNT = """
local digest = redis.call('HGET', KEYS[1], 'digest')
if not digest or digest ~= ARGV[1] then return {{}, 0} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {redis.call('HGETALL', KEYS[1]), count}
"""


def key_id_of(token: str | None) -> str:
    if not token:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>' "
                              "(an admin creates keys with `ragway keys create` or POST /v1/keys)")
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not KEY_ID.fullmatch(parts[1]):
        raise Unauthenticated("malformed API key: expected 'Authorization: Bearer rgw_...'")
    return parts[1]


def _caller_of(token: str, stored: dict[str, str]) -> Caller:
    if not stored or not hmac.compare_digest(stored.get("digest", ""), token_digest(token)):
        raise Unauthenticated("unknown API key")
    record = _record(stored)
    if record.revoked_at is not None:
        raise Unauthenticated(f"API key {record.key_id} was revoked")
    return Caller(key_id=record.key_id, tenant=record.tenant, role=record.role,
                  requests_per_minute=record.requests_per_minute, concurrent_jobs=record.concurrent_jobs)


class KeyStore:
    def __init__(self, client: redis.Redis, async_client: redis.asyncio.Redis | None = None):
        """`async_client`: for `authenticate_counting` (the gateway's event loop)."""
        self.r = client
        self._check_and_count = async_client.register_script(_CHECK_AND_COUNT) if async_client else None

    @staticmethod
    def _key(key_id: str) -> str:
        return redis_keys.api_key(key_id)

    @staticmethod
    def _tenant_set(tenant: str) -> str:
        return redis_keys.tenant_api_keys(tenant)

    def create(self, tenant: str, role: Role, name: str = "", requests_per_minute: int | None = None,
               concurrent_jobs: int | None = None) -> tuple[ApiKey, str]:
        """A new key; the token is returned this once and never stored."""
        filters.validate_name("tenant", tenant)
        key_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id=key_id, tenant=tenant, role=Role(role), name=name[:200], created_at=time.time(),
                        requests_per_minute=requests_per_minute, concurrent_jobs=concurrent_jobs)
        with redis_errors():
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._key(key_id), mapping={**_fields(record), "digest": token_digest(token)})
            pipe.sadd(self._tenant_set(tenant), key_id)
            pipe.execute()
        return record, token

    def authenticate(self, token: str | None) -> Caller:
        key_id = key_id_of(token)
        with redis_errors():
            stored = self.r.hgetall(self._key(key_id))
        return _caller_of(token, stored)

    async def authenticate_counting(self, token: str | None, counter: str, counter_ttl_s: int) -> tuple[Caller, int]:
        """`authenticate` over an asyncio Redis client, and in the same round trip the key's request
        counter `counter` incremented (only for the right key: a wrong secret cannot spend a
        key's budget). Returns the caller and the counter's new value."""
        key_id = key_id_of(token)
        with redis_errors():
            pairs, count = await self._check_and_count(keys=[self._key(key_id), counter],
                                                       args=[token_digest(token), counter_ttl_s])
        return _caller_of(token, dict(zip(pairs[::2], pairs[1::2], strict=True))), int(count)

    def list(self, tenant: str) -> list[ApiKey]:
        with redis_errors():
            ids = sorted(self.r.smembers(self._tenant_set(tenant)))
            pipe = self.r.pipeline()
            for key_id in ids:
                pipe.hgetall(self._key(key_id))
            rows = pipe.execute()
        return sorted((_record(row) for row in rows if row), key=lambda k: k.created_at)

    def revoke(self, tenant: str, key_id: str) -> ApiKey:
        ids.require("API key", key_id)
        with redis_errors():
            stored = self.r.hgetall(self._key(key_id))
            if not stored or stored["tenant"] != tenant:
                raise NotFound(f"API key {key_id} not found in tenant {tenant}")
            if not stored.get("revoked_at"):
                self.r.hset(self._key(key_id), "revoked_at", time.time())
                stored = self.r.hgetall(self._key(key_id))
        return _record(stored)


def _fields(record: ApiKey) -> dict[str, str]:
    return {"key_id": record.key_id, "tenant": record.tenant, "role": record.role.value, "name": record.name,
            "created_at": repr(record.created_at), "revoked_at": "",
            "requests_per_minute": _optional(record.requests_per_minute),
            "concurrent_jobs": _optional(record.concurrent_jobs)}


def _optional(value: int | None) -> str:
    return "" if value is None else str(value)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value else None


def _record(stored: dict[str, str]) -> ApiKey:
    revoked = stored.get("revoked_at") or None
    return ApiKey(key_id=stored["key_id"], tenant=stored["tenant"], role=Role(stored["role"]),
                  name=stored.get("name", ""), created_at=float(stored["created_at"]),
                  revoked_at=float(revoked) if revoked else None,
                  requests_per_minute=_int_or_none(stored.get("requests_per_minute")),
                  concurrent_jobs=_int_or_none(stored.get("concurrent_jobs")))


class KeyAdministration:
    """An admin's key changes within the admin's tenant, each one audited."""

    def __init__(self, keys: KeyStore, audit: AuditLog):
        self.keys, self.audit = keys, audit

    def create(self, caller: Caller, role: Role, name: str = "", requests_per_minute: int | None = None,
               concurrent_jobs: int | None = None) -> tuple[ApiKey, str]:
        record, token = self.keys.create(caller.tenant, role, name, requests_per_minute, concurrent_jobs)
        self.audit.record(caller.tenant, caller.key_id, "key.create", record.key_id, role=record.role.value,
                          name=record.name)
        return record, token

    def list(self, caller: Caller) -> list[ApiKey]:
        return self.keys.list(caller.tenant)

    def revoke(self, caller: Caller, key_id: str) -> ApiKey:
        record = self.keys.revoke(caller.tenant, key_id)
        self.audit.record(caller.tenant, caller.key_id, "key.revoke", key_id)
        return record
