"""Request-scoped dependencies: who is calling (API key -> tenant and role), and their limits.

The tenant comes only from the key, never from the request body or path, so no request field can
reach another tenant's data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cachetools import LRUCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.limits import SCOPE_CALLER
from api.metrics import SEARCH_AHEAD
from api.services import Services, services_of
from ragway import logs, timing
from ragway.auth import Caller, Role, key_id_of, token_digest
from ragway.errors import RagwayError

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rgw_...`")
T = TypeVar("T")


class Authorized:
    """The caller, if its key is valid, within its request budget and holds `needed` (or a higher role).

    One dependency (plus the bearer scheme, for the OpenAPI docs) rather than a chain: FastAPI
    resolves every node of the tree on every request. Async over asyncio Redis, one round trip:
    a sync dependency would cost a threadpool hop."""

    def __init__(self, needed: Role):
        self.needed = needed

    async def __call__(self, request: Request,
                       credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
        checked: Caller | None = request.scope.get("state", {}).get(SCOPE_CALLER)  # before the body (api/limits.py)
        if checked is not None:
            caller = checked.require(self.needed)
        else:
            caller = await self.check(services_of(request), credentials.credentials if credentials else None)
        logs.set_caller(caller.tenant, caller.key_id)
        return caller

    async def check(self, services: Services, token: str | None) -> Caller:
        counter, ttl_s, window_end = services.limits.request_counter(key_id_of(token))
        with timing.phase("auth"):
            caller, count = await services.keys.authenticate_counting(token, counter, ttl_s)
        services.limits.check_request_count(count, caller.requests_per_minute, window_end)
        return caller.require(self.needed)


@dataclass(frozen=True)
class PendingCaller:
    """A caller whose key is still being checked, and the tenant it belongs to (see `AuthorizedAhead`)."""
    tenant: str
    check: asyncio.Future[Caller]

    async def verified(self) -> Caller:
        caller = await self.check
        logs.set_caller(caller.tenant, caller.key_id)
        return caller


class AuthorizedAhead(Authorized):
    """`Authorized` for searches, whose work can start while the key is checked.

    A key never changes tenant, so for a key that passed the check recently (its hash is remembered
    here, per process) the tenant is known before this request's check, which then runs alongside
    the work (`speculatively`): one Redis round trip less per search. Results are released only
    after the check passes; unknown keys, and keys that failed their last check (revoked, over their
    budget), are checked first, so an invalid key costs no search."""

    def __init__(self, needed: Role):
        super().__init__(needed)
        self._tenants: LRUCache[str, str] | None = None  # key hash -> tenant, sized from the settings

    def tenants(self, services: Services) -> LRUCache[str, str]:
        if self._tenants is None:
            self._tenants = LRUCache(maxsize=max(services.settings.search_ahead_keys, 1))
        return self._tenants

    async def __call__(self, request: Request,
                       credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> PendingCaller:
        services = services_of(request)
        token = credentials.credentials if credentials else None
        digest = token_digest(token) if token else ""
        check = asyncio.ensure_future(self._remembering(services, token, digest))
        tenant = self.tenants(services).get(digest)
        if tenant is None:
            tenant = (await check).tenant
        return PendingCaller(tenant, check)

    async def _remembering(self, services: Services, token: str | None, digest: str) -> Caller:
        try:
            caller = await self.check(services, token)
        except RagwayError:
            self.tenants(services).pop(digest, None)
            raise
        if digest and services.settings.search_ahead_keys > 0:
            self.tenants(services)[digest] = caller.tenant
        return caller


async def speculatively(caller: PendingCaller, work: Callable[[str], Awaitable[T]]) -> tuple[Caller, T]:
    """`work(tenant)` run while the caller's key is checked; its result only once the check passed."""
    ahead = not caller.check.done()
    started = asyncio.ensure_future(work(caller.tenant))
    try:
        verified = await caller.verified()
    except BaseException:
        # A worker thread cannot be stopped: let it finish, and drop what it returns.
        started.add_done_callback(lambda task: task.cancelled() or task.exception())
        if ahead:
            SEARCH_AHEAD.labels("discarded").inc()
        raise
    result = await started
    if verified.tenant != caller.tenant:  # cannot happen (keys keep their tenant); never serve it
        SEARCH_AHEAD.labels("redone").inc()
        return verified, await work(verified.tenant)
    if ahead:
        SEARCH_AHEAD.labels("released").inc()
    return verified, result


async def authorize(services: Services, token: str | None, needed: Role) -> Caller:
    """The full check of a key (valid, within its budget, role), for middleware."""
    return await Authorized(needed).check(services, token)


reader = Authorized(Role.reader)
writer = Authorized(Role.writer)
admin = Authorized(Role.admin)
reader_ahead = AuthorizedAhead(Role.reader)
