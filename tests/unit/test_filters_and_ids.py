import pytest

from ragway import filters, ids
from ragway.errors import InvalidRequest


def test_quote_escapes_quotes_and_backslashes():
    assert filters.quote('a"b\\c') == '"a\\"b\\\\c"'
    assert filters.equals("kb", 'x" or tenant != "') == 'kb == "x\\" or tenant != \\""'


@pytest.mark.parametrize("name", ["handbook", "hr-2024", "v1.2_docs", "人事制度"])
def test_valid_names(name):
    assert filters.validate_name("knowledge base", name) == name


@pytest.mark.parametrize("name", ["", "a b", 'x" or 1==1', "a/b", "x" * 65, "new\nline"])
def test_invalid_names_are_rejected(name):
    with pytest.raises(InvalidRequest):
        filters.validate_name("knowledge base", name)


def test_control_characters_rejected_in_literals():
    with pytest.raises(InvalidRequest):
        filters.quote("a\x00b")


def test_ids_are_deterministic_and_distinct():
    doc = ids.document_id("t1", "kb", "a.pdf")
    assert doc == ids.document_id("t1", "kb", "a.pdf")
    assert doc != ids.document_id("t2", "kb", "a.pdf")
    assert doc != ids.document_id("t1", "kb2", "a.pdf")
    # the separator keeps fields from running together
    assert ids.document_id("t", "ab", "c") != ids.document_id("t", "a", "bc")
    assert ids.chunk_id("t1", "kb", doc, 0) != ids.chunk_id("t1", "kb", doc, 1)
