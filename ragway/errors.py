"""Typed errors. The gateway maps each to one HTTP status in one place (api/errors.py)."""

from __future__ import annotations


class RagwayError(Exception):
    """Base class: `code` is a stable machine-readable name, the message is for people."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param  # the request field at fault, where one is (OpenAI's `param`)


class NotFound(RagwayError):
    code = "not_found"
    http_status = 404


class InvalidRequest(RagwayError):
    code = "invalid_request"
    http_status = 400


class ContextTooLong(InvalidRequest):
    """The question (with the chat history and passages) does not fit the LLM's context window."""

    code = "context_length_exceeded"


class Unauthenticated(RagwayError):
    """No API key, a malformed or unknown one, or a revoked one."""

    code = "unauthenticated"
    http_status = 401


class Forbidden(RagwayError):
    """The key is valid but its role does not allow the request."""

    code = "forbidden"
    http_status = 403


class Conflict(RagwayError):
    code = "conflict"
    http_status = 409


class RateLimited(RagwayError):
    """A per-key limit is reached; `retry_after_s` becomes the Retry-After header."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class Timeout(RagwayError):
    code = "timeout"
    http_status = 504


class PayloadTooLarge(RagwayError):
    code = "payload_too_large"
    http_status = 413


class DependencyUnavailable(RagwayError):
    """Milvus, Redis or the LLM cannot be reached; the caller may retry."""

    code = "dependency_unavailable"
    http_status = 503


class ConfigurationError(RagwayError):
    """The settings contradict what the data was built with (e.g. another embedding model)."""

    code = "misconfigured"
    http_status = 500


class DocumentError(RagwayError):
    """A file cannot be turned into chunks (corrupt, encrypted, empty, unsupported, undecodable)."""

    code = "document_error"
    http_status = 422

    def __init__(self, filename: str, reason: str):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason
