"""Knowledge bases of the caller's tenant: admins create and delete them, everyone lists them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from api.deps import admin, reader
from api.schemas import KbCreate
from api.services import Services, services_dep
from ragway.auth import Caller
from ragway.kbs import KnowledgeBase

router = APIRouter(tags=["knowledge bases"])
KB = Path(..., description="Knowledge base name")


@router.post("/v1/kbs", response_model=KnowledgeBase, status_code=201, summary="Create a knowledge base (admin)")
def create_kb(body: KbCreate, caller: Caller = Depends(admin),
              services: Services = Depends(services_dep)) -> KnowledgeBase:
    return services.knowledge_bases.create(caller, body.name, body.description)


@router.get("/v1/kbs", response_model=list[KnowledgeBase], summary="The knowledge bases of your tenant")
def list_kbs(caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> list[KnowledgeBase]:
    return services.knowledge_bases.list(caller)


@router.get("/v1/kbs/{kb}", response_model=KnowledgeBase, summary="One knowledge base")
def get_kb(kb: str = KB, caller: Caller = Depends(reader),
           services: Services = Depends(services_dep)) -> KnowledgeBase:
    return services.knowledge_bases.get(caller, kb)


@router.delete("/v1/kbs/{kb}", status_code=204, summary="Delete a knowledge base and all its chunks (admin)")
def delete_kb(kb: str = KB, caller: Caller = Depends(admin), services: Services = Depends(services_dep)) -> None:
    """A delete that fails half-way can be sent again (see ragway/kb_deletion.py)."""
    services.knowledge_bases.delete(caller, kb)
