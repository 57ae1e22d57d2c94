"""Issue 15, items 1 and 2, through the real gateway, ingest worker and Milvus 2.3.5:

- a search, an answer or a chat that names no mode or top_k gets the server's settings
  (`RAGWAY_RETRIEVAL_MODE`, `RAGWAY_TOP_K`), one place for all three;
- a chunk's context (its file name, as no title is given) is BM25-indexed with its text and never
  shown: BM25 finds a file by a word only its name holds, hits and sources carry the clean text, and
  the stored vector is the text's own (embedding the context too is RAGWAY_EMBED_CHUNK_CONTEXT, off)."""

from __future__ import annotations

import numpy as np
import pytest
from openai import OpenAI

from ragway.embedder import get_embedder
from tests.integration.conftest import new_kb, wait_for_job

REPORT = "zephyr-orchard_report.txt"
REPORT_TEXT = "We shipped 1,200 crates of pears in the second quarter, and margins rose by four points."
NOTES = {
    f"warehouse-note-{i}.txt": f"Warehouse note {i}: the depot stacked {i * 40} crates of apples and pears."
    for i in range(1, 8)
}


@pytest.fixture(scope="module")
def kb(client, tmp_path_factory):
    folder = tmp_path_factory.mktemp("defaults")
    for name, text in {REPORT: REPORT_TEXT, **NOTES}.items():
        (folder / name).write_text(text, encoding="utf-8")
    name = new_kb(client, "defaults")
    job = wait_for_job(client, client.upload(name, sorted(folder.iterdir()))["job_id"])
    assert job["status"] == "done" and job["chunks"] == 1 + len(NOTES), job
    return name


def test_search_defaults_are_the_settings(client, kb, settings):
    assert settings.retrieval_mode == "hybrid" and settings.top_k == 5  # pinned: tests/unit/test_retrieval_defaults.py
    hits = client.search(kb, "How many crates of pears were shipped?")["hits"]
    assert len(hits) == settings.top_k  # 8 chunks in the kb: RAGWAY_TOP_K decides, not a client default
    assert {h["metadata"]["retrieval"]["mode"] for h in hits} == {settings.retrieval_mode}
    assert hits[0]["source"] == REPORT


def test_answers_and_chats_retrieve_in_the_default_mode(client, kb, settings):
    answer = client.ask(kb, "How many crates of pears were shipped in the second quarter?")
    assert answer["sources"] and {s["metadata"]["retrieval"]["mode"] for s in answer["sources"]} == {
        settings.retrieval_mode
    }
    chat = OpenAI(base_url=f"{settings.gateway_url}/v1", api_key=client.api_key, max_retries=0)
    resp = chat.chat.completions.create(
        model=f"kb:{kb}",
        messages=[{"role": "user", "content": "How many crates of pears were shipped in the second quarter?"}],
    )
    sources = resp.model_extra["sources"]
    assert sources and {s["metadata"]["retrieval"]["mode"] for s in sources} == {settings.retrieval_mode}
    assert all("zephyr" not in s["text"].lower() for s in answer["sources"] + sources)


def test_the_file_name_is_indexed_but_not_shown_or_embedded(client, kb, settings, milvus):
    hits = client.search(kb, "zephyr orchard", mode="bm25")["hits"]
    assert [h["source"] for h in hits] == [REPORT]  # only the context holds these words
    hit = hits[0]
    assert hit["text"] == REPORT_TEXT and hit["metadata"]["context"] == "zephyr orchard report"
    stored = milvus.query(
        settings.collection,
        filter=f'chunk_id == "{hit["chunk_id"]}"',
        output_fields=["embedding"],
        consistency_level="Strong",
    )[0]["embedding"]
    # The worker embeds in batches with int8 activations quantized per batch: equal up to ~0.01, not bitwise.
    # By default the context is indexed for BM25 only (RAGWAY_EMBED_CHUNK_CONTEXT=false, see its description).
    with_context, text_only = get_embedder(settings).embed([f"zephyr orchard report\n{REPORT_TEXT}", REPORT_TEXT])
    print("cosine to context + text", np.dot(stored, with_context), "to text alone", np.dot(stored, text_only))
    assert not settings.embed_chunk_context
    assert float(np.dot(stored, text_only)) > 0.98
    assert float(np.dot(stored, text_only)) - float(np.dot(stored, with_context)) > 0.02
