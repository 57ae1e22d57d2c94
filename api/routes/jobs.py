"""Ingest jobs: open jobs filled in batches, status with per-file detail, cancel and retry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Query, UploadFile

from api import intake
from api.deps import reader, writer
from api.schemas import JobCreated, OpenJobRequest
from api.services import Services, services_dep
from ragway.auth import Caller
from ragway.jobs import Job

router = APIRouter(tags=["jobs"])


@router.post("/v1/jobs", response_model=JobCreated, status_code=201,
             summary="Open a job to add files to in several requests; seal it when done")
def open_job(body: OpenJobRequest, caller: Caller = Depends(writer),
             services: Services = Depends(services_dep)) -> JobCreated:
    return JobCreated.of(services.job_lifecycle.open(caller, body.kb), body.kb, [])


@router.post("/v1/jobs/{job_id}/files", response_model=JobCreated, status_code=202,
             summary="Add files (or archives) to an open job")
def add_files(job_id: str, files: list[UploadFile] = File(...), caller: Caller = Depends(writer),
              services: Services = Depends(services_dep)) -> JobCreated:
    job, stored = services.job_lifecycle.add(caller, job_id, lambda _job_id: intake.receive_uploads(
        files, job_id, services.blobs, services.settings))
    return JobCreated.of(job_id, job.kb, stored)


@router.post("/v1/jobs/{job_id}/seal", response_model=Job, summary="No more files: the job can finish")
def seal_job(job_id: str, caller: Caller = Depends(writer), services: Services = Depends(services_dep)) -> Job:
    return services.job_lifecycle.seal(caller, job_id)


@router.get("/v1/jobs/{job_id}", response_model=Job, summary="Job status with per-file state and errors")
def get_job(job_id: str, files: bool = True, caller: Caller = Depends(reader),
            services: Services = Depends(services_dep)) -> Job:
    return services.job_lifecycle.get(caller, job_id, with_files=files)


@router.get("/v1/jobs", response_model=list[Job], summary="Recent jobs, newest first (without per-file detail)")
def list_jobs(limit: int = Query(20, ge=1, le=500, description="Jobs to list, newest first"),
              caller: Caller = Depends(reader), services: Services = Depends(services_dep)) -> list[Job]:
    return services.job_lifecycle.recent(caller, limit)


@router.post("/v1/jobs/{job_id}/cancel", response_model=Job,
             summary="Cancel: files not started end as cancelled; files being ingested finish")
def cancel_job(job_id: str, caller: Caller = Depends(writer), services: Services = Depends(services_dep)) -> Job:
    return services.job_lifecycle.cancel(caller, job_id)


@router.post("/v1/jobs/{job_id}/retry", response_model=Job, summary="Queue the job's failed files again")
def retry_failed(job_id: str, caller: Caller = Depends(writer), services: Services = Depends(services_dep)) -> Job:
    return services.job_lifecycle.retry(caller, job_id)
