"""Core errors carry no HTTP: the gateway maps each type to its status in one table (api/errors.py)."""

import asyncio
import json

import pytest

from api.errors import http_status, send_json_error
from ragway import errors


@pytest.mark.parametrize(("error", "status"), [
    (errors.InvalidRequest("x"), 400), (errors.ContextTooLong("x"), 400), (errors.Unauthenticated("x"), 401),
    (errors.Forbidden("x"), 403), (errors.NotFound("x"), 404), (errors.Conflict("x"), 409),
    (errors.PayloadTooLarge("x"), 413), (errors.DocumentError("a.pdf", "corrupt"), 422),
    (errors.RateLimited("x", 3), 429), (errors.DependencyUnavailable("x"), 503), (errors.Timeout("x"), 504),
    (errors.ConfigurationError("x"), 500), (errors.RagwayError("x"), 500),
])
def test_each_error_type_has_its_status(error, status):
    assert http_status(error) == status
    assert not hasattr(error, "http_status")


def test_middleware_errors_are_sent_with_the_same_status_body_and_headers():
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(send_json_error(send, errors.RateLimited("slow down", 7)))
    start, body = sent
    assert start["status"] == 429 and (b"retry-after", b"7") in start["headers"]
    assert json.loads(body["body"])["error"] == {"message": "slow down", "type": "rate_limited", "param": None,
                                                 "code": "rate_limited"}
