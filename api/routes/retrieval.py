"""Search and ask over a knowledge base."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import tenant_of_request
from api.schemas import AskRequest, AskResponse, ChunkOut, SearchRequest, SearchResponse
from api.services import Services, get_services

router = APIRouter(tags=["retrieval"])


@router.post("/v1/search", response_model=SearchResponse, summary="The chunks of a knowledge base closest to a query")
def search(body: SearchRequest, tenant: str = Depends(tenant_of_request),
           services: Services = Depends(get_services)) -> SearchResponse:
    hits = services.rag.search(tenant, body.kb, body.query, body.top_k)
    return SearchResponse(kb=body.kb, hits=[ChunkOut.of(h) for h in hits])


@router.post("/v1/ask", response_model=AskResponse, summary="Answer a question from a knowledge base, with sources")
def ask(body: AskRequest, tenant: str = Depends(tenant_of_request),
        services: Services = Depends(get_services)) -> AskResponse:
    result = services.rag.ask(tenant, body.kb, body.question, body.top_k)
    return AskResponse(answer=result.answer, sources=[ChunkOut.of(h) for h in result.sources])
