"""API keys and the audit log of the caller's tenant (admin only), and the key in use (any role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from api.deps import admin, reader
from api.schemas import KeyCreate, KeyCreated
from api.services import Services, services_dep
from ragway.auth import ApiKey, Caller

router = APIRouter(tags=["admin"])


@router.get("/v1/me", response_model=Caller,
            summary="The API key in use: its id, tenant, role and limits (what a client may offer)")
async def who_am_i(caller: Caller = Depends(reader)) -> Caller:  # no I/O: no threadpool hop
    return caller


@router.post("/v1/keys", response_model=KeyCreated, status_code=201,
             summary="Create an API key in your tenant; the key is shown this once")
def create_key(body: KeyCreate, caller: Caller = Depends(admin),
               services: Services = Depends(services_dep)) -> KeyCreated:
    record, token = services.key_admin.create(caller, body.role, body.name, body.requests_per_minute,
                                              body.concurrent_jobs)
    return KeyCreated(key=token, **record.model_dump())


@router.get("/v1/keys", response_model=list[ApiKey], summary="The API keys of your tenant (never the secrets)")
def list_keys(caller: Caller = Depends(admin), services: Services = Depends(services_dep)) -> list[ApiKey]:
    return services.key_admin.list(caller)


@router.delete("/v1/keys/{key_id}", response_model=ApiKey, summary="Revoke an API key: it fails at once")
def revoke_key(key_id: str, caller: Caller = Depends(admin), services: Services = Depends(services_dep)) -> ApiKey:
    return services.key_admin.revoke(caller, key_id)


@router.get("/v1/audit", summary="Recent changes to keys, knowledge bases and documents, newest first")
def audit_log(limit: int = Query(100, ge=1, le=1000), caller: Caller = Depends(admin),
              services: Services = Depends(services_dep)) -> list[dict[str, Any]]:
    return services.audit.recent(caller.tenant, limit)
