"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.schemas import Readiness
from api.services import Services, services_dep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The gateway process is alive")
async def healthz() -> dict:  # async: no I/O, so no threadpool hop for every liveness probe
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, summary="Milvus, Redis, the LLM (and an S3 blob store) are reachable",
            responses={503: {"model": Readiness}})
def readyz(services: Services = Depends(services_dep)) -> JSONResponse:
    checks: dict[str, str] = {}
    probes = [("milvus", lambda: services.store.ping()), ("redis", services.jobs.ping),
              ("llm", lambda: services.generator.ping())]
    if hasattr(services.blobs, "ping"):  # a bucket can be unreachable; a local directory cannot
        probes.append(("blobs", services.blobs.ping))
    for name, probe in probes:
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # report every failing dependency, not just the first
            checks[name] = str(getattr(exc, "message", exc))
    checks["embedder"] = "ok" if services.embedder_ready.is_set() else "loading the embedding model"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(Readiness(ready=ready, checks=checks).model_dump(), status_code=200 if ready else 503)
