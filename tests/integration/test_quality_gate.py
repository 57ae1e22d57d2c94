"""Retrieval quality gate (issue 15, item 8): a small fixed set, a subset of SciFact's test queries and
of the development QA set (tests/data/devqa.jsonl), runs against the real Milvus 2.3.5 with the service's
splitter, embedder and retriever, and fails when nDCG@10 or hit@5 (recall@5) falls below the floors
recorded in tests/data/quality_floors.json (measured values less a margin of about one question).

Both kbs live in the evaluation collection, keyed on the chunking version and the embedding model
(`ragway.apps.evaluation.eval_kb_name`, `qa_kb_name`) and kept: the first run ingests them (~2-3 min on 2
cores), later runs only query (~20 s). `pytest -m quality` runs the gate alone."""

from __future__ import annotations

import json

import pytest

from ragway.apps import evaluation as ev
from ragway.embedder import get_embedder
from ragway.retriever import Retriever
from ragway.store import ChunkStore
from tests.data import PROJECT_ROOT, data_dir, require

pytestmark = pytest.mark.quality

FLOORS = json.loads((PROJECT_ROOT / "tests" / "data" / "quality_floors.json").read_text())
DEVQA = PROJECT_ROOT / "tests" / "data" / "devqa.jsonl"


@pytest.fixture(scope="module")
def evaluation(settings):
    s = settings.model_copy(
        update={
            "collection": ev.eval_collection(settings),
            "search_consistency": "Bounded",
            "bm25_check_interval_s": 24 * 3600.0,
        }
    )
    embedder = get_embedder(s)
    store = ChunkStore(s, dim=embedder.dim)
    store.ensure_collection()
    return s, embedder, store


def scifact_subset() -> ev.BeirDataset:
    """The first `queries` judged test queries, their relevant abstracts and the first `distractors` others."""
    spec = FLOORS["scifact"]
    data = ev.load_beir(require("scifact"), "test")
    queries = data.judged_queries[: spec["queries"]]
    relevant = sorted({d for q in queries for d, g in data.qrels[q].items() if g > 0 and d in data.corpus})
    others = [d for d in data.corpus if d not in set(relevant)][: spec["distractors"]]
    return ev.BeirDataset(
        name="scifact-gate",
        corpus={d: data.corpus[d] for d in relevant + others},
        queries={q: data.queries[q] for q in queries},
        qrels={q: data.qrels[q] for q in queries},
        split="test",
    )


def test_scifact_subset_stays_above_its_floors(evaluation):
    settings, embedder, store = evaluation
    data = scifact_subset()
    kb = ev.eval_kb_name(data, settings, embedder.model_name)
    stored = sum(1 for _ in store.iter_rows(ev.EVAL_TENANT, kb, ["chunk_id"], extra_filter="chunk_index == 0"))
    if stored != len(data.corpus):
        store.delete_kb(ev.EVAL_TENANT, kb)
        ev.ingest_corpus(data, settings, embedder, store, kb)
    retriever = Retriever(settings, embedder, store)
    retriever.embedder = ev.PrecomputedQueries(embedder, list(data.queries.values()))  # encoded in batches
    measured = {}
    for mode, floors in FLOORS["scifact"]["floors"].items():
        metrics = ev.run_queries(retriever, kb, data, mode, depth=10).metrics  # nDCG@10 and recall@5 need 10
        measured[mode] = {k: round(metrics[k], 4) for k in floors}
    print(f"SciFact gate ({len(data.queries)} queries, {len(data.corpus)} abstracts): {measured}")
    for mode, floors in FLOORS["scifact"]["floors"].items():
        for metric, floor in floors.items():
            assert measured[mode][metric] >= floor, f"SciFact {mode} {metric} {measured[mode][metric]} < floor {floor}"


def test_dev_set_subset_stays_above_its_floors(evaluation):
    settings, embedder, store = evaluation
    docs = require("docs")
    limit = FLOORS["devqa"]["max_file_bytes"]
    items = [
        i
        for i in ev.load_qa(DEVQA)
        if i.answerable and all((docs / f).is_file() and (docs / f).stat().st_size <= limit for f in i.files)
    ]
    files = sorted({f for i in items for f in i.files})
    kb = ev.qa_kb_name(PROJECT_ROOT / "devqa-gate.jsonl", settings, embedder.model_name)
    failed = ev.ingest_files(docs, files, settings, embedder, store, kb)
    assert not failed, failed
    retriever = Retriever(settings, embedder, store)
    retriever.embedder = ev.PrecomputedQueries(embedder, [i.question for i in items])
    measured = {}
    for mode, floors in FLOORS["devqa"]["floors"].items():
        result = ev.run_qa(retriever, kb, items, mode)
        metrics = ev.qa_metrics(list(result.ranks.values()))
        measured[mode] = {k: round(metrics[k], 4) for k in floors}
    print(f"dev set gate ({len(items)} questions over {len(files)} files of {data_dir() / 'docs'}): {measured}")
    assert len(items) == FLOORS["devqa"]["questions"], "the gate's questions changed: record new floors"
    for mode, floors in FLOORS["devqa"]["floors"].items():
        for metric, floor in floors.items():
            assert measured[mode][metric] >= floor, f"dev set {mode} {metric} {measured[mode][metric]} < floor {floor}"
