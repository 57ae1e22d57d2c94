from ragway.records import Section
from ragway.settings import Settings
from ragway.splitter import Splitter


def test_chunks_respect_size_and_never_span_pages():
    splitter = Splitter(Settings(chunk_size=200, chunk_overlap=20))
    page1 = " ".join(f"Sentence number {i} of page one." for i in range(40))
    pieces = splitter.split([Section(page1, page=1), Section("Short page two.", page=2)])
    assert all(len(p.text) <= 200 for p in pieces)
    assert {p.page for p in pieces} == {1, 2}
    assert [p.text for p in pieces if p.page == 2] == ["Short page two."]


def test_chinese_is_split_at_sentence_ends_not_mid_sentence():
    sentence = "这是一个用于测试中文分块的句子，它应该完整地保留下来。"
    text = sentence * 30
    pieces = Splitter(Settings(chunk_size=100, chunk_overlap=0)).split([Section(text)])
    assert len(pieces) > 1
    assert all(len(p.text) <= 100 for p in pieces)
    assert all(p.text.endswith("。") for p in pieces)
    assert "".join(p.text for p in pieces) == text
