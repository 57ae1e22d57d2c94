"""Gateway endpoints, one module per concern.

`ROUTERS` is in matching order: FastAPI tries routes one by one until a path matches, and each
included router costs a match of its own, so the hot paths (search, chat) come first and every
module's router is included on the app directly (no router of routers)."""

from fastapi import APIRouter

from api.routes import admin, documents, health, jobs, kbs, openai_compat, retrieval

ROUTERS: list[APIRouter] = [m.router for m in (retrieval, openai_compat, kbs, documents, jobs, admin, health)]
