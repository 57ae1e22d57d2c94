"""`speculatively` (api/deps.py): work started before the caller's key check is released only
after the check passes, and is redone for the checked tenant if they ever differed."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from api.deps import PendingCaller, speculatively
from ragway.auth import Caller, Role
from ragway.errors import Unauthenticated


def caller(tenant: str) -> Caller:
    return Caller(tenant=tenant, key_id="k1", role=Role.reader)


async def check_after(delay: float, result: Caller | Exception) -> Caller:
    await asyncio.sleep(delay)
    if isinstance(result, Exception):
        raise result
    return result


def run(check_result, tenant_hint: str):
    async def scenario():
        ran_for: list[str] = []

        async def work(tenant: str) -> str:
            ran_for.append(tenant)
            await asyncio.sleep(0.01)
            return f"hits of {tenant}"

        pending = PendingCaller(tenant_hint, asyncio.ensure_future(check_after(0.005, check_result)))
        try:
            return await speculatively(pending, work), ran_for
        finally:
            await asyncio.sleep(0.02)  # let abandoned work finish inside the loop

    return asyncio.run(scenario())


def ahead(outcome: str) -> float:
    return REGISTRY.get_sample_value("ragway_search_ahead_total", {"outcome": outcome}) or 0.0


def test_work_runs_alongside_the_check_and_is_released_after_it():
    released = ahead("released")
    (verified, result), ran_for = run(caller("acme"), "acme")
    assert (verified.tenant, result, ran_for) == ("acme", "hits of acme", ["acme"])
    assert ahead("released") == released + 1


def test_a_failed_check_releases_nothing():
    discarded = ahead("discarded")
    with pytest.raises(Unauthenticated):
        run(Unauthenticated("this API key was revoked"), "acme")
    assert ahead("discarded") == discarded + 1


def test_work_for_a_tenant_other_than_the_checked_one_is_redone():
    (verified, result), ran_for = run(caller("globex"), "acme")
    assert (verified.tenant, result, ran_for) == ("globex", "hits of globex", ["acme", "globex"])
