"""Request-scoped dependencies: who is calling (API key -> tenant and role), and their limits.

The tenant comes only from the key, never from the request body or path, so no request field can
reach another tenant's data."""

from __future__ import annotations

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.services import get_services
from ragway import logs, timing
from ragway.auth import Caller, Role, key_id_of

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rgw_...`")


class Authorized:
    """The caller, if its key is valid, within its request budget and holds `needed` (or a higher role).

    One dependency (plus the bearer scheme, for the OpenAPI docs) rather than a chain: FastAPI
    resolves every node of the tree on every request. Async over asyncio Redis, one round trip:
    a sync dependency would cost a threadpool hop."""

    def __init__(self, needed: Role):
        self.needed = needed

    async def __call__(self, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
        services = get_services()
        token = credentials.credentials if credentials else None
        counter, ttl_s, window_end = services.limits.request_counter(key_id_of(token))
        with timing.phase("auth"):
            caller, count = await services.keys.authenticate_counting(token, counter, ttl_s)
        logs.set_caller(caller.tenant, caller.key_id)
        services.limits.check_request_count(count, caller.requests_per_minute, window_end)
        return caller.require(self.needed)


reader = Authorized(Role.reader)
writer = Authorized(Role.writer)
admin = Authorized(Role.admin)
