"""Putting documents into knowledge bases, listing and deleting them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, File, Path, UploadFile

from api import intake
from api.deps import tenant_of_request
from api.schemas import DocumentOut, JobCreated, ServerSourceRequest
from api.services import Services, get_services
from ragway import filters

router = APIRouter(tags=["documents"])
KB = Path(..., description="Knowledge base name (created on first upload)")


def _created(job_id: str, kb: str, incoming: list[intake.Incoming]) -> JobCreated:
    return JobCreated(job_id=job_id, kb=kb, files=len(incoming), status_url=f"/v1/jobs/{job_id}",
                      refused=[i.state.error for i in incoming if i.state.error])


@router.post("/v1/kbs/{kb}/documents", response_model=JobCreated, status_code=202,
             summary="Upload files or zip/tar archives to a knowledge base; returns the ingest job")
def upload_documents(
    kb: str = KB,
    files: list[UploadFile] = File(..., description="Files (PDF, DOCX, PPTX, XLSX, HTML, MD, TXT, ...) or "
                                                    "archives (.zip, .tar, .tar.gz), which are expanded"),
    tenant: str = Depends(tenant_of_request),
    services: Services = Depends(get_services),
) -> JobCreated:
    filters.validate_name("knowledge base", kb)
    incoming = intake.from_uploads(files, services.settings)
    job_id = uuid.uuid4().hex
    intake.submit(incoming, job_id, services.jobs, services.blobs, services.settings, tenant, kb=kb)
    return _created(job_id, kb, incoming)


@router.post("/v1/kbs/{kb}/sources", response_model=JobCreated, status_code=202,
             summary="Ingest a folder the workers can read, under a root the operator allows")
def ingest_server_folder(body: ServerSourceRequest, kb: str = KB, tenant: str = Depends(tenant_of_request),
                         services: Services = Depends(get_services)) -> JobCreated:
    filters.validate_name("knowledge base", kb)
    incoming = intake.from_server_folder(body.path, body.include, body.exclude, services.settings)
    job_id = uuid.uuid4().hex
    intake.submit(incoming, job_id, services.jobs, services.blobs, services.settings, tenant, kb=kb)
    return _created(job_id, kb, incoming)


@router.get("/v1/kbs/{kb}/documents", response_model=list[DocumentOut],
            summary="The documents of a knowledge base with their chunk counts")
def list_documents(kb: str = KB, limit: int = 100, offset: int = 0, tenant: str = Depends(tenant_of_request),
                   services: Services = Depends(get_services)) -> list[DocumentOut]:
    filters.validate_name("knowledge base", kb)
    rows = services.store.list_documents(tenant, kb, limit=min(limit, 1000), offset=offset)
    return [DocumentOut(**row) for row in rows]


@router.delete("/v1/kbs/{kb}/documents/{doc_id}", status_code=204, summary="Delete one document's chunks")
def delete_document(doc_id: str, kb: str = KB, tenant: str = Depends(tenant_of_request),
                    services: Services = Depends(get_services)) -> None:
    filters.validate_name("knowledge base", kb)
    filters.validate_name("document id", doc_id)
    services.store.delete_document(tenant, doc_id)


@router.delete("/v1/kbs/{kb}", status_code=204, summary="Delete a whole knowledge base")
def delete_kb(kb: str = KB, tenant: str = Depends(tenant_of_request),
              services: Services = Depends(get_services)) -> None:
    filters.validate_name("knowledge base", kb)
    services.store.delete_kb(tenant, kb)
