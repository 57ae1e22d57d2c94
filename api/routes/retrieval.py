"""Search and ask over a knowledge base of the caller's tenant."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from api.deps import reader
from api.schemas import AskRequest, AskResponse, ChunkOut, SearchRequest, SearchResponse
from api.services import Services, services_dep
from ragway.auth import Caller

router = APIRouter(tags=["retrieval"])


@router.post("/v1/search", response_model=SearchResponse, summary="The chunks of a knowledge base closest to a query")
async def search(body: SearchRequest, caller: Caller = Depends(reader),
                 services: Services = Depends(services_dep)) -> SearchResponse:
    # The kb check runs while the search does: a search of a missing kb finds nothing (every
    # query is filtered to the caller's tenant and kb) and its result is dropped for the 404.
    kb_exists = asyncio.create_task(services.kbs.get_async(caller.tenant, body.kb))
    try:
        with services.store.reading_ahead(caller.tenant, body.kb):
            hits = await run_in_threadpool(services.rag.search, caller.tenant, body.kb, body.query, body.options())
    finally:
        await kb_exists  # its NotFound wins over the search's outcome
    return SearchResponse(kb=body.kb, hits=[ChunkOut.of(h) for h in hits])


@router.post("/v1/ask", response_model=AskResponse, summary="Answer a question from a knowledge base, with sources")
def ask(body: AskRequest, caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> AskResponse:
    services.kbs.get(caller.tenant, body.kb)
    result = services.rag.ask(caller.tenant, body.kb, body.question, body.options())
    return AskResponse(answer=result.answer, sources=[ChunkOut.of(h) for h in result.sources])
