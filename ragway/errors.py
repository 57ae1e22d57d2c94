"""Typed errors of the core, free of any protocol: the gateway maps each to an HTTP status in one
place (api/errors.py), the ingest worker to a per-file reason."""

from __future__ import annotations


class RagwayError(Exception):
    """Base class: `code` is a stable machine-readable name, the message is for people."""

    code = "internal_error"

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param  # the request field at fault, where one is (OpenAI's `param`)


class NotFound(RagwayError):
    code = "not_found"


class InvalidRequest(RagwayError):
    code = "invalid_request"


class ContextTooLong(InvalidRequest):
    """The question (with the chat history and passages) does not fit the LLM's context window."""

    code = "context_length_exceeded"


class Unauthenticated(RagwayError):
    """No API key, a malformed or unknown one, or a revoked one."""

    code = "unauthenticated"


class Forbidden(RagwayError):
    """The key is valid but its role does not allow the request."""

    code = "forbidden"


class Conflict(RagwayError):
    code = "conflict"


class RateLimited(RagwayError):
    """A per-key limit is reached; `retry_after_s` becomes the Retry-After header."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class Timeout(RagwayError):
    """The request took longer than the gateway allows."""

    code = "timeout"


class PayloadTooLarge(RagwayError):
    code = "payload_too_large"


class DependencyUnavailable(RagwayError):
    """Milvus, Redis or the LLM cannot be reached; the caller may retry."""

    code = "dependency_unavailable"


class ConfigurationError(RagwayError):
    """The settings contradict what the data was built with (e.g. another embedding model)."""

    code = "misconfigured"


class DocumentError(RagwayError):
    """A file cannot be turned into chunks (corrupt, encrypted, empty, unsupported, undecodable)."""

    code = "document_error"

    def __init__(self, filename: str, reason: str):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason
