"""Gateway endpoints, one module per concern."""

from fastapi import APIRouter

from api.routes import documents, health, jobs, retrieval

router = APIRouter()
for module in (documents, jobs, retrieval, health):
    router.include_router(module.router)
