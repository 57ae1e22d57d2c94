"""Search and ask over a knowledge base of the caller's tenant."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from api.deps import PendingCaller, reader, reader_ahead, speculatively
from api.schemas import AskRequest, AskResponse, ChunkOut, SearchRequest, SearchResponse
from api.services import Services, services_dep
from ragway import kb_deletion
from ragway.auth import Caller
from ragway.records import Hit

router = APIRouter(tags=["retrieval"])


@router.post("/v1/search", response_model=SearchResponse, summary="The chunks of a knowledge base closest to a query")
async def search(body: SearchRequest, pending: PendingCaller = Depends(reader_ahead),
                 services: Services = Depends(services_dep)) -> SearchResponse:
    async def search_in_thread(tenant: str) -> list[Hit]:
        with services.store.reading_ahead(tenant, body.kb):
            return await run_in_threadpool(services.rag.search, tenant, body.kb, body.query, body.options())

    caller, hits = await speculatively(pending, search_in_thread)
    if not kb_deletion.hits_prove_kb_exists(hits):  # else a Redis round trip per search
        await services.kbs.get_async(caller.tenant, body.kb)
    return SearchResponse(kb=body.kb, hits=[ChunkOut.of(h) for h in hits])


@router.post("/v1/ask", response_model=AskResponse, summary="Answer a question from a knowledge base, with sources")
def ask(body: AskRequest, caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> AskResponse:
    result = services.rag.ask(caller.tenant, body.kb, body.question, body.options())
    return AskResponse.of(result)
