"""Building Milvus boolean expressions from validated values only.

Nothing a user sends is pasted into an expression: names are checked against a strict pattern
and string literals are escaped here, in one place."""

from __future__ import annotations

import re

from ragway.errors import InvalidRequest

# Knowledge-base and tenant names: letters (any script, so Chinese names work), digits, _ - .
_NAME = re.compile(r"^[\w.\-]{1,64}$", re.UNICODE)


def validate_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidRequest(
            f"invalid {kind} name {value!r}: use 1-64 letters, digits, '_', '-' or '.'"
        )
    return value


def quote(value: str) -> str:
    """A Milvus string literal for `value`, with backslashes and quotes escaped."""
    if any(ord(ch) < 32 for ch in value):
        raise InvalidRequest("control characters are not allowed in filter values")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def equals(field: str, value: str) -> str:
    return f"{field} == {quote(value)}"


def all_of(*clauses: str) -> str:
    return " and ".join(f"({c})" for c in clauses if c)
