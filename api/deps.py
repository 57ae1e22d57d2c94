"""Request-scoped dependencies shared by the routes."""

from __future__ import annotations

from fastapi import Depends

from api.services import Services, get_services


def tenant_of_request(services: Services = Depends(get_services)) -> str:
    # Single-tenant until API keys bind callers to tenants.
    return services.settings.default_tenant
