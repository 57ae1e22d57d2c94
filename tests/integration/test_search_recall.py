"""Filtered search must find a small kb's chunks even when one large kb fills the unindexed segments.

Milvus 2.3 builds an IVF "interim index" on growing segments and probes 16 of its 128 lists: a
tenant/kb filter that keeps one row of 20k then usually finds nothing (45 of 50 misses here before
the local stack turned it off). Random unit vectors, so no embedding cost."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from ragway.records import Chunk
from ragway.store import ChunkStore

DIM = 768  # the collection's: all-MiniLM-L6-v2 and the paired CJK model (random unit vectors here)
BULK_ROWS = 20_000


@pytest.fixture(scope="module")
def store(settings):
    chunk_store = ChunkStore(settings, dim=DIM)
    chunk_store.ensure_collection()
    return chunk_store


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _chunk(tenant: str, kb: str, index: int, vector: np.ndarray) -> Chunk:
    return Chunk(chunk_id=f"{kb}-{index}", tenant=tenant, kb=kb, doc_id=f"{kb}-doc", source="random.txt", page=0,
                 chunk_index=index, content_hash="0" * 64, text=f"row {index}", created_at=0,
                 metadata={"chunk_count": 1}, embedding=vector.tolist())


def test_small_kb_is_found_next_to_a_large_unindexed_one(store):
    tenant = f"recall-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(7)
    bulk = _unit_vectors(rng, BULK_ROWS)
    for start in range(0, BULK_ROWS, 2_000):
        store.upsert([_chunk(tenant, "bulk", start + i, bulk[start + i]) for i in range(2_000)])
    try:
        misses = []
        for trial in range(20):
            kb = f"small{trial}"
            stored, query = _unit_vectors(rng, 2)
            store.upsert([_chunk(tenant, kb, 0, stored)])
            hits = store.search(tenant, kb, query.tolist(), top_k=5)
            if [h.chunk_id for h in hits] != [f"{kb}-0"]:
                misses.append(kb)
        assert not misses, f"filtered search missed the only chunk of {len(misses)} of 20 kbs"
    finally:
        for kb in ["bulk", *(f"small{t}" for t in range(20))]:
            store.delete_kb(tenant, kb)
