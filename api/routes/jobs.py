"""Ingest jobs: open jobs filled in batches, status with per-file detail, cancel and retry."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, File, Query, UploadFile

from api import intake
from api.deps import reader, writer
from api.schemas import JobCreated, OpenJobRequest
from api.services import Services, services_dep
from ragway.auth import Caller
from ragway.dispatch import enqueue
from ragway.jobs import Job

router = APIRouter(tags=["jobs"])


@router.post("/v1/jobs", response_model=JobCreated, status_code=201,
             summary="Open a job to add files to in several requests; seal it when done")
def open_job(body: OpenJobRequest, caller: Caller = Depends(writer),
             services: Services = Depends(services_dep)) -> JobCreated:
    services.kbs.get(caller.tenant, body.kb)
    job_id = uuid.uuid4().hex
    services.limits.start_job(caller.key_id, job_id, caller.concurrent_jobs)
    services.jobs.create(caller.tenant, body.kb, [], job_id=job_id, sealed=False, created_by=caller.key_id)
    services.audit.record(caller.tenant, caller.key_id, "job.create", f"{body.kb}/{job_id}", files=0)
    return JobCreated(job_id=job_id, kb=body.kb, files=0, status_url=f"/v1/jobs/{job_id}")


@router.post("/v1/jobs/{job_id}/files", response_model=JobCreated, status_code=202,
             summary="Add files (or archives) to an open job")
def add_files(job_id: str, files: list[UploadFile] = File(...), caller: Caller = Depends(writer),
              services: Services = Depends(services_dep)) -> JobCreated:
    return intake.add_to_open_job(services, caller, job_id, files)


@router.post("/v1/jobs/{job_id}/seal", response_model=Job, summary="No more files: the job can finish")
def seal_job(job_id: str, caller: Caller = Depends(writer), services: Services = Depends(services_dep)) -> Job:
    services.jobs.seal(job_id, caller.tenant)
    return services.jobs.get(job_id, tenant=caller.tenant, with_files=False)


@router.get("/v1/jobs/{job_id}", response_model=Job, summary="Job status with per-file state and errors")
def get_job(job_id: str, files: bool = True, caller: Caller = Depends(reader),
            services: Services = Depends(services_dep)) -> Job:
    return services.jobs.get(job_id, tenant=caller.tenant, with_files=files)


@router.get("/v1/jobs", response_model=list[Job], summary="Recent jobs, newest first (without per-file detail)")
def list_jobs(limit: int = Query(20, ge=1, le=500, description="Jobs to list, newest first"),
              caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> list[Job]:
    return [services.jobs.get(job_id, tenant=caller.tenant, with_files=False)
            for job_id in services.jobs.list_ids(caller.tenant, limit)]


@router.post("/v1/jobs/{job_id}/cancel", response_model=Job,
             summary="Cancel: files not started end as cancelled; files being ingested finish")
def cancel_job(job_id: str, caller: Caller = Depends(writer), services: Services = Depends(services_dep)) -> Job:
    for f in services.jobs.cancel(job_id, caller.tenant):
        services.blobs.delete(job_id, f.file_id)
    services.audit.record(caller.tenant, caller.key_id, "job.cancel", job_id)
    return services.jobs.get(job_id, tenant=caller.tenant, with_files=False)


@router.post("/v1/jobs/{job_id}/retry", response_model=Job, summary="Queue the job's failed files again")
def retry_failed(job_id: str, caller: Caller = Depends(writer), services: Services = Depends(services_dep)) -> Job:
    again = services.jobs.requeue_failed(
        job_id, caller.tenant,
        retryable=lambda f: f.attempts < services.settings.max_file_attempts and (
            f.path is not None or services.blobs.exists(job_id, f.file_id)))
    enqueue(job_id, again, services.settings)
    return services.jobs.get(job_id, tenant=caller.tenant, with_files=False)
