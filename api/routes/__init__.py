"""Gateway endpoints, one module per concern."""

from fastapi import APIRouter

from api.routes import admin, documents, health, jobs, kbs, openai_compat, retrieval

router = APIRouter()
for module in (kbs, documents, jobs, retrieval, openai_compat, admin, health):
    router.include_router(module.router)
