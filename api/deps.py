"""Request-scoped dependencies: who is calling (API key -> tenant and role), and their limits.

The tenant comes only from the key, never from the request body or path, so no request field can
reach another tenant's data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.services import Services, services_dep
from ragway import logs, timing
from ragway.auth import Caller, Role, key_id_of

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rgw_...`")


async def authenticated(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                        services: Services = Depends(services_dep)) -> Caller:
    # asyncio Redis, one round trip: every request passes here, and a sync dependency would cost a
    # threadpool hop.
    token = credentials.credentials if credentials else None
    counter, ttl_s, window_end = services.limits.request_counter(key_id_of(token))
    with timing.phase("auth"):
        caller, count = await services.keys.authenticate_counting(token, counter, ttl_s)
    logs.set_caller(caller.tenant, caller.key_id)
    services.limits.check_request_count(count, caller.requests_per_minute, window_end)
    return caller


def role(needed: Role) -> Callable[..., Awaitable[Caller]]:
    async def dependency(caller: Caller = Depends(authenticated)) -> Caller:  # no I/O: no threadpool hop
        return caller.require(needed)

    dependency.__name__ = f"requires_{needed.value}"
    return dependency


reader = role(Role.reader)
writer = role(Role.writer)
admin = role(Role.admin)
