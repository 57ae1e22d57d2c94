"""Gateway endpoints. Each handler validates, then hands over to the queue or the RAG service."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, File, Path, UploadFile
from fastapi.responses import JSONResponse

from api.schemas import (
    AskRequest,
    AskResponse,
    ChunkOut,
    Readiness,
    SearchRequest,
    SearchResponse,
    UploadedFile,
    UploadResponse,
)
from api.services import Services, get_services
from ingest_worker.app import INGEST_QUEUE, celery_app
from ragway import filters
from ragway.errors import InvalidRequest, PayloadTooLarge
from ragway.jobs import FileState, Job

router = APIRouter()


def tenant_of_request(services: Services = Depends(get_services)) -> str:
    # Single-tenant until API keys bind callers to tenants.
    return services.settings.default_tenant


@router.post("/v1/kbs/{kb}/documents", response_model=UploadResponse, status_code=202, tags=["documents"],
             summary="Upload documents to a knowledge base; returns the ingest job")
def upload_documents(
    kb: str = Path(..., description="Knowledge base name (created on first upload)"),
    files: list[UploadFile] = File(..., description="One or more files (PDF, DOCX, MD, TXT, HTML, ...)"),
    tenant: str = Depends(tenant_of_request),
    services: Services = Depends(get_services),
) -> UploadResponse:
    filters.validate_name("knowledge base", kb)
    s = services.settings
    if len(files) > s.max_files_per_upload:
        raise PayloadTooLarge(f"{len(files)} files in one request; the limit is {s.max_files_per_upload}")
    names = [_source_name(f) for f in files]
    if len(set(names)) != len(names):
        raise InvalidRequest("two uploaded files have the same name; names identify documents in a kb")
    payloads = [_read_limited(f, name, s.max_file_bytes) for f, name in zip(files, names, strict=True)]
    states = [FileState(file_id=uuid.uuid4().hex, name=n, size=len(d)) for n, d in zip(names, payloads, strict=True)]
    job_id = uuid.uuid4().hex
    for state, data in zip(states, payloads, strict=True):
        services.blobs.put(job_id, state.file_id, data)
    services.jobs.create(tenant, kb, states, job_id=job_id)
    for state in states:
        celery_app.send_task("ragway.ingest_file", args=[job_id, state.file_id], queue=INGEST_QUEUE)
    return UploadResponse(job_id=job_id, kb=kb, status_url=f"/v1/jobs/{job_id}",
                          files=[UploadedFile(file_id=f.file_id, name=f.name, size=f.size) for f in states])


def _source_name(upload: UploadFile) -> str:
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidRequest("every uploaded file needs a file name")
    return name


def _read_limited(upload: UploadFile, name: str, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name} is larger than the {limit // (1024 * 1024)} MiB limit per file")
    return data


@router.get("/v1/jobs/{job_id}", response_model=Job, tags=["jobs"], summary="Job status with per-file state")
def get_job(job_id: str, tenant: str = Depends(tenant_of_request),
            services: Services = Depends(get_services)) -> Job:
    return services.jobs.get(job_id, tenant=tenant)


@router.get("/v1/jobs", response_model=list[Job], tags=["jobs"], summary="Recent jobs, newest first")
def list_jobs(limit: int = 20, tenant: str = Depends(tenant_of_request),
              services: Services = Depends(get_services)) -> list[Job]:
    jobs = [services.jobs.get(job_id, tenant=tenant) for job_id in services.jobs.list_ids(tenant, limit)]
    for job in jobs:
        job.files = []  # the list stays small; per-file detail is on the job itself
    return jobs


@router.post("/v1/search", response_model=SearchResponse, tags=["retrieval"],
             summary="The chunks of a knowledge base closest to a query")
def search(body: SearchRequest, tenant: str = Depends(tenant_of_request),
           services: Services = Depends(get_services)) -> SearchResponse:
    hits = services.rag.search(tenant, body.kb, body.query, body.top_k)
    return SearchResponse(kb=body.kb, hits=[ChunkOut.of(h) for h in hits])


@router.post("/v1/ask", response_model=AskResponse, tags=["retrieval"],
             summary="Answer a question from a knowledge base, with the sources used")
def ask(body: AskRequest, tenant: str = Depends(tenant_of_request),
        services: Services = Depends(get_services)) -> AskResponse:
    result = services.rag.ask(tenant, body.kb, body.question, body.top_k)
    return AskResponse(answer=result.answer, sources=[ChunkOut.of(h) for h in result.sources])


@router.get("/healthz", tags=["health"], summary="The gateway process is alive")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, tags=["health"],
            summary="Milvus, Redis and the LLM are reachable", responses={503: {"model": Readiness}})
def readyz(services: Services = Depends(get_services)) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("milvus", lambda: services.store.ping()), ("redis", services.jobs.ping),
                        ("llm", lambda: services.generator.ping())):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # report every failing dependency, not just the first
            checks[name] = str(getattr(exc, "message", exc))
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(Readiness(ready=ready, checks=checks).model_dump(), status_code=200 if ready else 503)
