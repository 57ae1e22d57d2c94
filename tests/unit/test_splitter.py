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


def test_every_chunk_carries_its_heading():
    body = " ".join(f"Rule {i} says the hotel limit is {100 + i} EUR." for i in range(30))
    pieces = Splitter(Settings(chunk_size=200, chunk_overlap=0)).split([Section(f"Hotels\n\n{body}", title="Hotels")])
    assert len(pieces) > 3
    assert all(p.text.startswith("Hotels\n") and p.title == "Hotels" for p in pieces)
    assert all(len(p.text) <= 200 + len("Hotels\n") for p in pieces)


def test_table_chunks_hold_whole_rows_under_the_header():
    rows = [f"Item {i} | {i * 7} EUR | warehouse {i % 3}" for i in range(60)]
    table = Section("Item | Price | Store\n" + "\n".join(rows), page=3, title="Prices", kind="table")
    pieces = Splitter(Settings(chunk_size=300, chunk_overlap=30)).split([table])
    assert len(pieces) > 4
    seen = []
    for p in pieces:
        head, header, *body = p.text.split("\n")
        assert (head, header, p.page) == ("Prices", "Item | Price | Store", 3)
        assert all(r in rows for r in body)  # no row cut
        seen += body
    assert seen == rows  # every row once, in order (no overlap between table chunks)


def test_a_title_too_long_for_every_chunk_stays_in_the_first():
    title = "A very long paper title " * 5  # 120 characters > chunk_size / 2
    body = " ".join(f"Sentence {i} of the abstract." for i in range(20))
    pieces = Splitter(Settings(chunk_size=200, chunk_overlap=0)).split([Section(f"{title}\n\n{body}", title=title)])
    assert pieces[0].text.startswith(title.strip())
    assert not any(p.text.startswith(title.strip()) for p in pieces[1:])
    assert " ".join(p.text for p in pieces).count("Sentence") == 20


def test_stacked_headings_are_not_repeated_in_the_first_chunk():
    from ragway import loader

    body = " ".join(f"Rule {i} says the hotel limit is {100 + i} EUR." for i in range(20))
    sections = loader.load("handbook.md", f"# Handbook\n\n## Travel\n\n{body}\n".encode())
    pieces = Splitter(Settings(chunk_size=300, chunk_overlap=0)).split(sections)
    assert len(pieces) > 2
    assert pieces[0].text.startswith("Handbook\n\nTravel\n\nRule 0 ")
    assert pieces[0].text.count("Travel") == 1
    assert all(p.text.startswith("Travel\nRule ") and p.title == "Travel" for p in pieces[1:])
