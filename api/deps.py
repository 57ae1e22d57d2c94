"""Request-scoped dependencies: who is calling (API key -> tenant and role), and their limits.

The tenant comes only from the key, never from the request body or path, so no request field can
reach another tenant's data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.services import Services, services_dep
from ragway import logs
from ragway.auth import Caller, Role

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rgw_...`")


async def authenticated(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                        services: Services = Depends(services_dep)) -> Caller:
    # asyncio Redis: every request passes here, and a sync dependency costs a threadpool hop.
    caller = await services.keys.authenticate_async(credentials.credentials if credentials else None,
                                                    services.aredis)
    logs.set_caller(caller.tenant, caller.key_id)
    await services.limits.count_request_async(caller.key_id, services.aredis, caller.requests_per_minute)
    return caller


def role(needed: Role) -> Callable[..., Awaitable[Caller]]:
    async def dependency(caller: Caller = Depends(authenticated)) -> Caller:  # no I/O: no threadpool hop
        return caller.require(needed)

    dependency.__name__ = f"requires_{needed.value}"
    return dependency


reader = role(Role.reader)
writer = role(Role.writer)
admin = role(Role.admin)
