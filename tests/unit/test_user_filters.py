"""User metadata filters become Milvus expressions only through validation and quoting."""

from __future__ import annotations

import pytest

from ragway.auth import Role
from ragway.errors import InvalidRequest
from ragway.filters import user_filter


def test_literals_and_operators_become_quoted_clauses():
    expr = user_filter({"source": 'a"b.pdf', "page": {"gte": 2, "lt": 5}, "metadata.filetype": {"in": ["pdf", "md"]},
                        "doc_id": {"prefix": "ab"}})
    assert expr == ('((source == "a\\"b.pdf")) and ((page >= 2) and (page < 5)) and '
                    '((metadata["filetype"] in ["pdf", "md"])) and ((doc_id like "ab%"))')
    assert user_filter(None) == "" and user_filter({}) == ""


@pytest.mark.parametrize("spec", [
    {"tenant": "other"}, {"kb": "x"}, {"page": "1 or 1 == 1"}, {"page": True}, {"source": 3},
    {"source": {"regex": ".*"}}, {"metadata.a b": 1}, {"metadata.x) or (1": 1}, {"page": {"in": []}},
    {"page": {"prefix": "1"}}, {"source": {"prefix": "50%"}}, {"page": float("nan")}, {"source": "a\nb"},
    {"source": {}}, ["source"],
])
def test_anything_else_is_refused(spec):
    with pytest.raises(InvalidRequest):
        user_filter(spec)


def test_roles_include_the_ones_below():
    assert Role.admin.allows(Role.writer) and Role.writer.allows(Role.reader)
    assert not Role.reader.allows(Role.writer) and not Role.writer.allows(Role.admin)
