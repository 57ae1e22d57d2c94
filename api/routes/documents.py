"""Putting documents into knowledge bases, listing and deleting them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile

from api import intake
from api.deps import reader, writer
from api.schemas import DocumentOut, JobCreated, ServerSourceRequest
from api.services import Services, services_dep
from ragway.auth import Caller
from ragway.errors import InvalidRequest

router = APIRouter(tags=["documents"])
MAX_LISTED = 16_384  # Milvus queries return rows up to offset + limit = 16,384
KB = Path(..., description="Knowledge base name (an admin creates it first: POST /v1/kbs)")


@router.post("/v1/kbs/{kb}/documents", response_model=JobCreated, status_code=202,
             summary="Upload files or zip/tar archives to a knowledge base; returns the ingest job")
def upload_documents(
    kb: str = KB,
    files: list[UploadFile] = File(..., description="Files (PDF, DOCX, PPTX, XLSX, HTML, MD, TXT, ...) or "
                                                    "archives (.zip, .tar, .tar.gz), which are expanded"),
    caller: Caller = Depends(writer),
    services: Services = Depends(services_dep),
) -> JobCreated:
    job_id, stored = services.job_lifecycle.start(caller, kb, lambda job_id: intake.receive_uploads(
        files, job_id, services.blobs, services.settings))
    return JobCreated.of(job_id, kb, stored)


@router.post("/v1/kbs/{kb}/sources", response_model=JobCreated, status_code=202,
             summary="Ingest a folder the workers can read, under a root the operator allows")
def ingest_server_folder(body: ServerSourceRequest, kb: str = KB, caller: Caller = Depends(writer),
                         services: Services = Depends(services_dep)) -> JobCreated:
    services.kbs.get(caller.tenant, kb)
    files = intake.from_server_folder(body.path, body.include, body.exclude, services.settings)
    job_id, _ = services.job_lifecycle.start(caller, kb, lambda _job_id: files)
    return JobCreated.of(job_id, kb, files)


@router.get("/v1/kbs/{kb}/documents", response_model=list[DocumentOut],
            summary="The documents of a knowledge base with their chunk counts")
def list_documents(kb: str = KB, limit: int = Query(100, ge=1, le=1000),
                   offset: int = Query(0, ge=0, le=MAX_LISTED - 1, description=f"offset + limit <= {MAX_LISTED}"),
                   caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> list[DocumentOut]:
    if offset + limit > MAX_LISTED:
        raise InvalidRequest(f"offset + limit may be at most {MAX_LISTED} (Milvus's query window)", param="offset")
    rows = services.knowledge_bases.documents(caller, kb, limit=limit, offset=offset)
    return [DocumentOut(**row) for row in rows]


@router.delete("/v1/kbs/{kb}/documents/{doc_id}", status_code=204, summary="Delete one document's chunks")
def delete_document(doc_id: str, kb: str = KB, caller: Caller = Depends(writer),
                    services: Services = Depends(services_dep)) -> None:
    services.knowledge_bases.delete_document(caller, kb, doc_id)
