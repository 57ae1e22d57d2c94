"""Chunk text without markup, and titles only for real headings (issue 18, item 5), on files the
tests make: Markdown (also named .txt, also GB18030), HTML, plain text whose short lines
unstructured calls titles, and a CSV exported from an issue tracker."""

import re

import pytest

from ragway import loader, markup
from ragway.records import Section
from ragway.settings import Settings
from ragway.splitter import Splitter

MARKDOWN = """# Travel Policy

Read this **before** you book: the [booking portal](https://portal.example.com/book) takes
*every* trip, and `economy` is the default fare.

<div style="page-break-after: always"></div>

## Hotels

Rooms cost up to **150 EUR** a night; see ![the map](https://example.com/map.png) and the
<span style="color:red">red list</span> of partner hotels.

<div style="page-break-after:always;"></div>

## 报销

员工应在**三十天内**提交报销单，详见[财务手册](https://example.com/finance)。
"""

# What raw Markdown or HTML looks like in text: emphasis, heading marks, links, images, tags.
RAW_MARKUP = re.compile(r"(?m)\*\*|^#{1,6} |\]\(|!\[|</?(div|span|img|b|p)\b|page-break")


def chunks(name: str, data: bytes, chunk_size: int = 500):
    return Splitter(Settings(chunk_size=chunk_size, chunk_overlap=0)).split(loader.load(name, data))


def assert_clean_travel_policy(pieces):
    text = "\n".join(p.text for p in pieces)
    assert not RAW_MARKUP.search(text), text
    assert "Read this before you book: the booking portal takes every trip" in text
    assert "Rooms cost up to 150 EUR a night" in text and "red list of partner hotels" in text
    assert "员工应在三十天内提交报销单，详见财务手册。" in text
    assert {p.title for p in pieces} == {"Travel Policy", "Hotels", "报销"}
    assert all(p.text.startswith(p.title) for p in pieces)


def test_markdown_chunks_hold_the_text_not_the_markup():
    assert_clean_travel_policy(chunks("policy.md", MARKDOWN.encode()))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_markdown_named_txt_is_read_as_markdown(encoding):
    assert_clean_travel_policy(chunks("policy.txt", MARKDOWN.encode(encoding)))


def test_plain_text_is_not_taken_for_markdown():
    text = ("Multiply 2*3*4 to get 24, and name files like snake_case_name.txt.\n\n"
            "A heading-like line\n=================\n\nThe rest of the note is plain prose.\n")
    assert not markup.looks_like_markdown(text)
    assert markup.looks_like_markdown(MARKDOWN)
    joined = " ".join(p.text for p in chunks("note.txt", text.encode()))
    assert "2*3*4" in joined and "snake_case_name.txt" in joined


FRAGMENTS = ["is", "determining", "suddenly cried a voice.", "Important points:",
             "He bowed to the prince and smiled at everyone in the room.", '"We will talk of it later," said Anna.']


def test_short_lines_of_plain_text_are_not_titles():
    body = "The committee met on Monday and agreed on the budget for the coming year in full."
    text = "TRAVEL POLICY\n\n" + "\n\n".join(f"{body}\n\n{fragment}" for fragment in FRAGMENTS) + f"\n\n{body}\n"
    sections = loader.load("minutes.txt", text.encode())
    # unstructured (without a part-of-speech tagger) calls each of these short lines a Title:
    # only the real heading may become one.
    assert {s.title for s in sections} == {"TRAVEL POLICY"}
    pieces = Splitter(Settings(chunk_size=120, chunk_overlap=0)).split(sections)
    assert len(pieces) > 3
    assert all(p.title == "TRAVEL POLICY" and p.text.startswith("TRAVEL POLICY\n") for p in pieces)
    joined = " ".join(p.text for p in pieces)
    assert all(fragment in joined for fragment in FRAGMENTS)  # the lines stay, as body text
    assert not any(p.text.startswith(fragment) for p in pieces for fragment in FRAGMENTS)


def test_html_headings_are_titles_unless_they_are_fragments():
    html = (b"<html><body><h1>Travel Policy</h1><p>Economy class for flights under six hours.</p>"
            b"<h2>is</h2><p>Business class needs approval from a director.</p>"
            b"<h2>How do I book a flight for a trip abroad?</h2><p>Through the portal, at least two weeks "
            b"ahead.</p></body></html>")
    sections = loader.load("policy.html", html)
    assert [s.title for s in sections] == ["Travel Policy", "How do I book a flight for a trip abroad?"]
    assert "is\n\nBusiness class needs approval" in sections[0].text


def test_table_cells_holding_markdown_or_html_are_rendered_to_their_text():
    csv = ('title,body\n'
           '"Crash on start","**问题描述 / Problem Description** the [loader docs](https://example.com/docs) '
           'say <img width=""80"" alt=""shot"" src=""https://example.com/a.png""> nothing"\n'
           '"Plain cell","Multiply 2*3*4, keep snake_case_name"\n').encode()
    [table] = loader.load("issues.csv", csv)
    assert table.kind == "table"
    assert table.text.split("\n") == ["title | body",
                                      "title: Crash on start | body: 问题描述 / Problem Description the loader docs "
                                      "say nothing",
                                      "title: Plain cell | body: Multiply 2*3*4, keep snake_case_name"]


def test_the_splitter_puts_no_bogus_title_on_chunks():
    body = " ".join(f"Rule {i} says the hotel limit is {100 + i} EUR." for i in range(30))
    for bogus in ["is", "a", "determining", "--"]:
        pieces = Splitter(Settings(chunk_size=200, chunk_overlap=0)).split([Section(f"{bogus}\n\n{body}", title=bogus)])
        assert len(pieces) > 3
        assert all(p.title == "" for p in pieces)
        assert not any(p.text.startswith(f"{bogus}\n") for p in pieces[1:])
    # one CJK character can be a real title (a dictionary entry)
    [piece, *_] = Splitter(Settings(chunk_size=200, chunk_overlap=0)).split([Section("䲟\n\n䲟是一种鱼。", title="䲟")])
    assert piece.title == "䲟"


@pytest.mark.parametrize(("text", "heading"), [
    ("Travel Policy", True), ("CHAPTER I", True), ("1.2.5 Tables", True), ("Section 1 -- Definitions.", True),
    ("Section 5 -- Disclaimer of Warranties and Limitation of Liability.", True), ("What is RAG?", True),
    ("第一章：Prompt 工程技术简介", True), ("什么是 Prompt 工程？", True), ("Chinese, Mandarin (Beijing)", True),
    ("is", False), ("determining", False), ("a", False), ("J", False), ("1.2", False), ("Important points:", False),
    ("suddenly cried a voice.", False), ("The prince bowed to signify his respect and gratitude.", False),
    ("In January 2020, it was reported that Roberts had volunteered for", False), ("agree-", False),
    ("是人都生而自由，在尊严和权利上一律平等。", False), ("生成客户服务响应：**", False),
    ("Archived (https://web.archive.org/web/2011", False),
])
def test_is_heading(text, heading):
    assert markup.is_heading(text) is heading
