"""Grid search of the hybrid settings on a kept evaluation kb (tune on training splits only).

    .venv/bin/ragway eval --dataset ../shared/data/scifact --split train --modes dense --keep   # once
    .venv/bin/python bench/tune_hybrid.py --dataset ../shared/data/scifact --split train \\
        --grid hybrid_dense_weight=0.4,0.5,0.6,0.7 --grid rrf_k=20,60

One process: the queries are encoded once and the BM25 index is built once; each grid point runs
the split's queries through `ragway eval`'s own hybrid scoring with the settings changed. Prints
a table sorted by nDCG@10 and the plain-RRF defaults' row for comparison.

With `--qa tests/data/devqa.jsonl` it tunes on the development QA set's tune half instead (kept kb of
`ragway eval --qa ... --keep`), sorted by hit@5, with the tables and Chinese rows beside."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

from pydantic import TypeAdapter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragway.apps import evaluation as ev  # noqa: E402
from ragway.embedder import get_embedder  # noqa: E402
from ragway.retriever import Retriever  # noqa: E402
from ragway.settings import get_settings  # noqa: E402
from ragway.store import ChunkStore  # noqa: E402


def parse_grid(items: list[str]) -> dict[str, list]:
    grid = {}
    fields = get_settings().model_fields
    for item in items:
        name, _, values = item.partition("=")
        if name not in fields or not values:
            raise SystemExit(f"--grid {item!r}: expected <setting>=v1,v2,... with a Ragway setting name")
        kind = TypeAdapter(fields[name].annotation)  # "0.4" -> 0.4, also for `float | None`
        grid[name] = [kind.validate_python(v) for v in values.split(",")]
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--qa", type=Path, help="development QA file (JSON lines) instead of a BEIR dataset")
    parser.add_argument("--split", default="", help="default: train (BEIR), tune (--qa)")
    parser.add_argument("--grid", action="append", default=[], help="setting=v1,v2 (repeatable)")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--collection", default="", help="default: the eval collection of the embedding model")
    args = parser.parse_args()
    if bool(args.dataset) == bool(args.qa):
        raise SystemExit("give one of --dataset DIR or --qa FILE")
    if args.qa:
        return tune_qa(args)
    args.split = args.split or "train"
    if args.split == "test":
        print("note: tuning on a test split overfits it; use train (or a set kept apart from the report's)")
    data = ev.load_dataset(args.dataset, args.split)
    args.collection = args.collection or ev.eval_collection(get_settings())
    settings = get_settings().model_copy(update={"collection": args.collection, "search_consistency": "Bounded",
                                                 "bm25_check_interval_s": 24 * 3600.0})
    embedder = get_embedder(settings)
    store = ChunkStore(settings, dim=embedder.dim)
    kb = ev.eval_kb_name(data, settings, embedder.model_name)
    if store.count(ev.EVAL_TENANT, kb) == 0:
        raise SystemExit(f"no kept kb {kb!r} in {args.collection}: run `ragway eval --dataset {args.dataset} "
                         f"--split {args.split} --modes dense --keep` first")
    retriever = Retriever(settings, embedder, store)
    retriever.bm25_index(ev.EVAL_TENANT, kb)
    retriever.embedder = ev.PrecomputedQueries(embedder, [data.queries[q] for q in data.judged_queries])
    grid = parse_grid(args.grid)
    rows = []
    for values in itertools.product(*grid.values()):
        update = dict(zip(grid, values, strict=True))
        retriever.settings = settings.model_copy(update=update)
        result = ev.run_queries(retriever, kb, data, "hybrid", args.depth)
        rows.append((update, result.metrics))
        print(f"  {update}: nDCG@10 {result.metrics['ndcg@10']:.4f}", flush=True)
    for mode in ("dense", "bm25"):
        retriever.settings = settings
        rows.append(({"mode": mode}, ev.run_queries(retriever, kb, data, mode, args.depth).metrics))
    print(f"\n{data.name} / {args.split}: {len(data.judged_queries)} queries, hybrid grid sorted by nDCG@10\n")
    print("| settings | nDCG@10 | recall@10 | recall@100 | MRR@10 |\n|---|---:|---:|---:|---:|")
    for update, m in sorted(rows, key=lambda r: -r[1]["ndcg@10"]):
        label = ", ".join(f"{k}={v}" for k, v in update.items())
        print(f"| {label} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} |")


def qa_row(items, result) -> dict[str, float]:
    def hit5(selected) -> float:
        ranks = [result.ranks[i.id] for i in selected]
        return sum(1 for r in ranks if r is not None and r <= 5) / max(len(ranks), 1)

    answerable = [i for i in items if i.answerable]
    metrics = ev.qa_metrics([result.ranks[i.id] for i in answerable])
    return {"hit@5": metrics["hit@5"], "mrr@10": metrics["mrr@10"],
            "tables": hit5([i for i in answerable if "table" in i.subsets]),
            "zh": hit5([i for i in answerable if i.lang == "zh"]),
            "misses": " ".join(i.id for i in answerable if (result.ranks[i.id] or 99) > 5)}


def tune_qa(args) -> None:
    split = args.split or "tune"
    if split != "tune":
        print(f"note: tuning on the {split} half overfits the half the report is made on")
    items = [i for i in ev.load_qa(args.qa, split) if i.answerable]
    settings = get_settings()
    settings = settings.model_copy(update={"collection": args.collection or ev.eval_collection(settings),
                                           "search_consistency": "Bounded", "bm25_check_interval_s": 24 * 3600.0})
    embedder = get_embedder(settings)
    store = ChunkStore(settings, dim=embedder.dim)
    kb = ev.qa_kb_name(args.qa, settings, embedder.model_name)
    if store.count(ev.EVAL_TENANT, kb) == 0:
        raise SystemExit(f"no kept kb {kb!r} in {settings.collection}: run `ragway eval --qa {args.qa} --keep` first")
    retriever = Retriever(settings, embedder, store)
    retriever.bm25_index(ev.EVAL_TENANT, kb)
    retriever.embedder = ev.PrecomputedQueries(embedder, [i.question for i in items])
    rows = []
    grid = parse_grid(args.grid)
    points = [({"mode": m}, m) for m in ("dense", "bm25")]
    points += [(dict(zip(grid, v, strict=True)), "hybrid") for v in itertools.product(*grid.values())]
    for update, mode in points:
        retriever.settings = settings.model_copy(update={k: v for k, v in update.items() if k != "mode"})
        row = qa_row(items, ev.run_qa(retriever, kb, items, mode, depth=10))
        rows.append((update, row))
        print(f"  {update}: hit@5 {row['hit@5']:.3f}", flush=True)
    print(f"\n{args.qa} / {split}: {len(items)} answerable questions, sorted by hit@5\n")
    print("| settings | hit@5 | MRR@10 | tables | Chinese | misses at 5 |\n|---|---:|---:|---:|---:|---|")
    for update, r in sorted(rows, key=lambda r: (-r[1]["hit@5"], -r[1]["mrr@10"])):
        label = ", ".join(f"{k}={v}" for k, v in update.items()) or "defaults"
        print(f"| {label} | {r['hit@5']:.3f} | {r['mrr@10']:.3f} | {r['tables']:.3f} | {r['zh']:.3f} | {r['misses']} |")


if __name__ == "__main__":
    main()
