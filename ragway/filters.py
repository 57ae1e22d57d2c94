"""Building Milvus boolean expressions from validated values only.

Nothing a user sends is pasted into an expression: names are checked against a strict pattern
and string literals are escaped here, in one place."""

from __future__ import annotations

import math
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
    if not is_valid_unicode(value):
        raise InvalidRequest("filter values must be valid Unicode (this one holds a lone surrogate)")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_valid_unicode(value: str) -> bool:
    """False for strings holding lone surrogates (JSON allows `\\ud800`; UTF-8 cannot encode it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def equals(field: str, value: str) -> str:
    return f"{field} == {quote(value)}"


def all_of(*clauses: str) -> str:
    return " and ".join(f"({c})" for c in clauses if c)


# --- metadata filters sent by users -----------------------------------------------------------
# Only these fields can be filtered on; tenant and kb are set by the server and cannot be named.
STRING_FIELDS = {"source", "doc_id"}
NUMBER_FIELDS = {"page", "chunk_index", "created_at"}
_METADATA_KEY = re.compile(r"^metadata\.([A-Za-z_][A-Za-z0-9_]{0,63})$")
_COMPARISONS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
MAX_IN_VALUES = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SAFE_NUMBER = 2**53


def user_filter(spec: dict | None) -> str:
    """A Milvus expression for a user's filter, e.g. `{"source": "a.pdf", "page": {"gte": 2}}`.

    Each value is either a literal (equality) or an object of operators: eq, ne, gt, gte, lt, lte,
    in (a list), prefix (strings). Conditions are joined with AND. Anything else is refused."""
    if not spec:
        return ""
    if not isinstance(spec, dict):
        raise InvalidRequest("filter must be an object of field: value or field: {operator: value}")
    return all_of(*(_condition(field, condition) for field, condition in spec.items()))


def _field_expr(field: str) -> tuple[str, str]:
    """(the expression for the field, its kind: string, number or any)."""
    if field in STRING_FIELDS:
        return field, "string"
    if field in NUMBER_FIELDS:
        return field, "number"
    m = _METADATA_KEY.fullmatch(field)
    if m:
        return f'metadata["{m.group(1)}"]', "any"
    allowed = sorted(STRING_FIELDS | NUMBER_FIELDS) + ["metadata.<key>"]
    raise InvalidRequest(f"cannot filter on {field!r}; filterable fields: {', '.join(allowed)}")


def _condition(field: str, condition) -> str:
    expr, kind = _field_expr(field)
    ops = condition if isinstance(condition, dict) else {"eq": condition}
    if not ops:
        raise InvalidRequest(f"filter on {field!r} has no operator")
    clauses = []
    for op, value in ops.items():
        if op in _COMPARISONS:
            clauses.append(f"{expr} {_COMPARISONS[op]} {_literal(field, kind, value)}")
        elif op == "in":
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                raise InvalidRequest(f"'in' on {field!r} needs a list of 1 to {MAX_IN_VALUES} values")
            clauses.append(f"{expr} in [{', '.join(_literal(field, kind, v) for v in value)}]")
        elif op == "prefix":
            if kind == "number" or not isinstance(value, str) or "%" in value:
                raise InvalidRequest(f"'prefix' on {field!r} needs a string without '%'")
            clauses.append(f"{expr} like {quote(value + '%')}")
        else:
            raise InvalidRequest(f"unknown filter operator {op!r} on {field!r}; use eq, ne, gt, gte, lt, lte, in, "
                                 "prefix")
    return all_of(*clauses)


def _literal(field: str, kind: str, value) -> str:
    if isinstance(value, str) and kind != "number":
        return quote(value)
    if isinstance(value, bool) and kind == "any":
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool) and kind != "string":
        return _number(field, kind, value)
    wanted = {"string": "a string", "number": "a number", "any": "a string, number or boolean"}[kind]
    raise InvalidRequest(f"filter value for {field!r} must be {wanted}, not {value!r}")


def _number(field: str, kind: str, value: int | float) -> str:
    """Integer fields (page, chunk_index, created_at) take whole numbers within int64; metadata numbers
    are kept within +-2**53, where JSON numbers are exact."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"filter value for {field!r} must be a finite number")
    if kind == "number":
        if isinstance(value, float) and not value.is_integer() or not INT64_MIN <= value <= INT64_MAX:
            raise InvalidRequest(f"filter value for {field!r} must be a whole number between {INT64_MIN} and "
                                 f"{INT64_MAX}, not {value!r}")
        return str(int(value))
    if not -SAFE_NUMBER <= value <= SAFE_NUMBER:
        raise InvalidRequest(f"filter value for {field!r} must be between -2**53 and 2**53, not {value!r}")
    return repr(value)
