"""Issue 14, item 12: a document of more chunks than one Milvus query returns (16,384) is stored
whole and found unchanged; one over RAGWAY_MAX_DOCUMENT_CHUNKS fails before it is embedded."""

from __future__ import annotations

import random
import time
import uuid

import pytest

from ragway import ids
from ragway.apps.client import GatewayClient
from tests.integration.conftest import count_chunks, extra_gateway, extra_worker, new_kb, wait_for_job
from tests.ports import free_port

SUBJECTS = ["The warehouse", "Our auditor", "The night shift", "A field engineer", "The finance team",
            "The depot in Leeds", "Each supplier", "The review board", "The harbour office", "A new hire"]
VERBS = ["shipped", "counted", "inspected", "approved", "rejected", "logged", "repaired", "ordered", "moved"]
OBJECTS = ["pallets of copper wire", "invoices from March", "spare pump seals", "crates of apples",
           "laptops for the lab", "boxes of filters", "rolls of cable", "drums of coolant", "sacks of cement"]
WHEN = ["before noon", "in week {n}", "near gate {n}", "after the audit", "on line {n}", "at dock {n}"]


def ledger(paragraphs: int, seed: int) -> str:
    """Varied prose, one chunk per paragraph at chunk_size 500: five sentences of ~75 characters (300-450 in all)."""
    rnd = random.Random(seed)
    return "\n\n".join(
        " ".join(f"{rnd.choice(SUBJECTS)} {rnd.choice(VERBS)} {rnd.randint(2, 9999)} {rnd.choice(OBJECTS)} "
                 f"{rnd.choice(WHEN).format(n=rnd.randint(1, 99))} (entry {p}.{s})." for s in range(5))
        for p in range(paragraphs)) + "\n"


def entries(lines: int, seed: int = 12) -> str:
    """One short entry per paragraph (23-34 characters: "Entry 00042: 417 drums of coolant."), so at chunk_size
    40 each is one chunk (two never fit)."""
    rnd = random.Random(seed)
    goods = ["crates", "drums of coolant", "pallets", "boxes of filters", "sacks"]
    return "\n\n".join(f"Entry {n:05d}: {rnd.randint(2, 999)} {rnd.choice(goods)}." for n in range(lines)) + "\n"


@pytest.mark.bigcorpus
def test_a_document_of_more_than_16384_chunks_is_stored_whole_and_then_skipped(settings, client, milvus, tmp_path):
    """A worker and gateway of their own at chunk_size 40: the count is what this test is about, and a chunk of
    a few words embeds in half the time of a sentence (4 against 8 ms) and a tenth of a 500-character one."""
    chunks = 16_500
    assert settings.max_document_chunks >= chunks
    kb = new_kb(client, "big")
    path = tmp_path / "ledger.txt"
    path.write_text(entries(chunks))
    queue = f"ragway.ingest.test-{uuid.uuid4().hex[:8]}"
    with extra_worker(queue, chunk_size="40", chunk_overlap="0"), \
            extra_gateway(settings, free_port(), ingest_queue=queue) as url:
        ours = GatewayClient(url, api_key=client.api_key)
        job = wait_for_job(ours, ours.upload(kb, [path])["job_id"], timeout_s=settings.task_time_limit_s + 600)
        took = time.time() - job["started_at"]
        print(f"\n{path.stat().st_size:,} bytes, {chunks:,} chunks ingested in {took:.0f} s "
              f"({chunks / took:.1f} chunks/s)")
        assert [(f["status"], f["chunks"], f["error"]) for f in job["files"]] == [("done", chunks, None)]
        doc_id = ids.document_id(settings.default_tenant, kb, path.name)
        assert count_chunks(milvus, settings, kb, doc_id) == chunks
        assert ours.search(kb, "How many drums of coolant were entered?")["hits"]

        again = wait_for_job(ours, ours.upload(kb, [path])["job_id"], timeout_s=300)
        assert [(f["status"], f["chunks"]) for f in again["files"]] == [("skipped", chunks)]
        assert again["chunks"] == 0
    assert count_chunks(milvus, settings, kb, doc_id) == chunks
    client.delete_document(kb, doc_id)  # a delete by expression of more rows than a query returns
    assert count_chunks(milvus, settings, kb, doc_id) == 0


def test_a_document_over_the_chunk_limit_fails_with_the_count_and_the_limit(settings, client, milvus, tmp_path):
    """A worker and gateway of their own, on their own queue, with a limit of 40 chunks."""
    kb = new_kb(client, "limit")
    at_limit, over = tmp_path / "at-limit.txt", tmp_path / "over.txt"
    at_limit.write_text(ledger(40, seed=1))
    over.write_text(ledger(41, seed=2))
    queue = f"ragway.ingest.test-{uuid.uuid4().hex[:8]}"
    with extra_worker(queue, max_document_chunks="40"), \
            extra_gateway(settings, free_port(), ingest_queue=queue) as url:
        ours = GatewayClient(url, api_key=client.api_key)
        job = wait_for_job(ours, ours.upload(kb, [at_limit, over])["job_id"], timeout_s=300)
    files = {f["name"]: (f["status"], f["chunks"], f["error"]) for f in job["files"]}
    assert files == {"at-limit.txt": ("done", 40, None),
                     "over.txt": ("failed", 0, "over.txt: 41 chunks; the limit is 40 per document "
                                               "(RAGWAY_MAX_DOCUMENT_CHUNKS): split the file into smaller files")}
    assert count_chunks(milvus, settings, kb, ids.document_id(settings.default_tenant, kb, "over.txt")) == 0
