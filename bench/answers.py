"""Answer quality and latency of LLMs side by side, in one run, through Ragway's own answer path.

    .venv/bin/python bench/answers.py [--per-set 30] [--split report|tune] [--models A,B,...]
                                      [--context-chunks 4] [--json PATH]

Each set's corpus is ingested once into a kept kb of the `ragway_eval` collection (in-process:
splitter, embedder, Milvus). Its questions are split in two halves by a hash of their id: `tune`
(to choose settings on) and `report` (to report on). For every sampled question, retrieval runs
once (the settings' default mode) and every model answers from the same numbered passages, in
streaming, through FastChat's OpenAI API: the answer threshold, prompt, decline detection and
groundedness check are the service's own (ragway.rag, ragway.generator, ragway.grounding).

Models (name=worker kind): the new default (llama.cpp, Qwen2.5-Coder-1.5B), the light option
(llama.cpp, 0.5B) and the old default (SmolLM2-135M on FastChat's transformers worker). A model
the stack does not serve gets a FastChat worker of its own for the run, registered with the stack's
controller, then stopped. Sets (RAGWAY_DATA_DIR, default ../shared/data): SQuAD 2.0 dev half
(answerable and unanswerable), CMRC 2018 dev (Chinese), XQuAD English and Chinese; on request
(`--sets xquad-en-over-zh`), XQuAD's English questions over its Chinese paragraphs, scored against
the English answers.

Reports per model and set: share of answers containing a gold answer, token F1 (characters for
Chinese), unanswerable declined, answerable wrongly declined, answers flagged ungrounded,
p50/p95 answer latency and p50/p95 first-token latency. `--sweep` prints, from the same answers,
declines at each answer threshold (choose it on `--split tune`). Needs the local stack."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import string
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from ragway import grounding  # noqa: E402
from ragway.apps import evaluation as ev  # noqa: E402
from ragway.apps.stack import controller_url, service_argv  # noqa: E402
from ragway.embedder import get_embedder  # noqa: E402
from ragway.generator import Generator  # noqa: E402
from ragway.rag import RagService, RetrievalOptions, cosine_of  # noqa: E402
from ragway.settings import get_settings  # noqa: E402
from ragway.store import ChunkStore  # noqa: E402

DEFAULT_MODELS = "qwen2.5-coder-1.5b-instruct=llamacpp,qwen2.5-coder-0.5b-instruct=llamacpp," \
                 "SmolLM2-135M-Instruct=model_worker"
SETS = {  # name: (folder under the data root, has unanswerable questions)
    "squad2": ("squad2-dev-cs224n/beir", True),
    "cmrc2018": ("cmrc2018/beir-dev", False),
    "xquad-en": ("xquad/beir-en", False),
    "xquad-zh": ("xquad/beir-zh", False),
}
# Sets of questions in one language over the other's corpus (XQuAD is parallel): name: (corpus set, question set).
ACROSS = {"xquad-en-over-zh": ("xquad-zh", "xquad-en")}


def corpus_and_questions(name: str) -> tuple[str, str]:
    """The sets a set's corpus and questions come from (the same one but for ACROSS)."""
    return ACROSS.get(name, (name, name))


def data_root() -> Path:
    return Path(os.environ.get("RAGWAY_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


# --- questions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    set: str
    qid: str
    text: str
    answers: tuple[str, ...]  # empty: unanswerable


def half_of(qid: str) -> str:
    return "tune" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "report"


def sample(name: str, folder: Path, has_unanswerable: bool, split: str, n: int) -> list[Question]:
    """The first `n` questions of the split's half in hash order (and `n` unanswerable ones)."""
    rows = [json.loads(line) for line in (folder / "queries.jsonl").open(encoding="utf-8") if line.strip()]
    rows = sorted((r for r in rows if half_of(str(r["_id"])) == split),
                  key=lambda r: hashlib.sha1(str(r["_id"]).encode()).hexdigest())
    picked = {True: [], False: []}
    for row in rows:
        meta = row.get("metadata") or {}
        answerable = not meta.get("is_impossible", False)
        if len(picked[answerable]) < (n if answerable or has_unanswerable else 0):
            answers = tuple(str(a) for a in meta.get("answers") or []) if answerable else ()
            picked[answerable].append(Question(name, str(row["_id"]), str(row["text"]), answers))
    return picked[True] + picked[False]


# --- scoring -------------------------------------------------------------------------------------
def normalise(text: str, chinese: bool) -> str:
    text = grounding.CITATION_MARK.sub(" ", text).lower()
    if chinese:
        return re.sub(r"[\s\W_]+", "", text)
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def tokens(text: str, chinese: bool) -> list[str]:
    return list(normalise(text, chinese)) if chinese else normalise(text, chinese).split()


def token_f1(prediction: str, gold: str, chinese: bool) -> float:
    pred, ref = tokens(prediction, chinese), tokens(gold, chinese)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


# --- models --------------------------------------------------------------------------------------
def served_models(settings) -> list[str]:
    return httpx.post(f"{controller_url(settings)}/list_models", timeout=10).json()["models"]


def start_worker(settings, name: str, kind: str, port: int, log_dir: Path) -> subprocess.Popen:
    s = settings.model_copy(update={"llm_model": name, "fastchat_worker_kind": kind, "fastchat_worker_port": port,
                                    "fastchat_worker_url": f"http://{settings.bind_host}:{port}"})
    from ragway.llm_model import prepare

    prepare(s)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"bench-worker-{port}.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, "LOGDIR": str(log_dir)}
    proc = subprocess.Popen(service_argv("fastchat-worker", s), stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while name not in served_models(settings):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {name} worker did not start; see {log_dir}/bench-worker-{port}.log")
        time.sleep(1)
    return proc


# --- one answer ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    set: str
    qid: str
    model: str
    answerable: bool
    declined: bool
    by_threshold: bool
    withdrawn: bool  # declined by the groundedness check: the model's answer stated what no passage holds
    grounded: bool
    contains_gold: bool
    f1: float
    seconds: float
    first_token_s: float | None
    best_cosine: float
    loops: bool
    answer: str
    unsupported: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)  # what the model was shown, for offline analysis


async def timed_answer(generator: Generator, question: str, passages, language: str) -> tuple[str, float, float]:
    started = time.perf_counter()
    first, pieces = None, []
    async for piece in generator.stream_answer(question, passages, language):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    return "".join(pieces), time.perf_counter() - started, first if first is not None else 0.0


async def answer_one(generator: Generator, q: Question, hits, passages, gated: bool, model: str,
                     withdraw: bool) -> Outcome:
    language = grounding.language_of(q.text)
    chinese = language == "zh"
    best = max((cosine_of(h) for h in hits), default=0.0)
    if gated or not passages:
        checked, seconds, first = grounding.Checked(grounding.NOT_FOUND[language], declined=True), 0.0, None
    else:
        text, seconds, first = await timed_answer(generator, q.text, passages, language)
        checked = grounding.check(text, [p.hit for p in passages], language, withdraw, question=q.text)
    golds = [g for g in q.answers if g.strip()]
    answer = checked.text
    contains = not checked.declined and any(normalise(g, chinese) in normalise(answer, chinese) for g in golds)
    f1 = 0.0 if checked.declined else max((token_f1(answer, g, chinese) for g in golds), default=0.0)
    return Outcome(q.set, q.qid, model, bool(golds), checked.declined, gated, checked.withdrawn, checked.grounded,
                   contains, f1,
                   seconds, first, best, loops(answer), answer, checked.unsupported, [p.text for p in passages])


def capped(contexts: list, cap: int | None) -> list:
    """The first `cap` questions of each set and kind (answerable, unanswerable): a slow model answers
    a sample of the same questions."""
    seen: Counter = Counter()
    kept = []
    for context in contexts:
        q = context[0]
        seen[q.set, bool(q.answers)] += 1
        if cap is None or seen[q.set, bool(q.answers)] <= cap:
            kept.append(context)
    return kept


def loops(answer: str) -> bool:
    """Whether the answer repeats itself: some word trigram four times or more."""
    words = answer.split() if " " in answer.strip() else list(answer)
    trigrams = Counter(tuple(words[i:i + 3]) for i in range(len(words) - 2))
    return bool(trigrams) and max(trigrams.values()) >= 4


async def answer_with_every_model(settings, models: str, contexts, json_path: Path | None) -> list[Outcome]:
    """Every question through every model, one model at a time, in one event loop (LangChain's async
    OpenAI client outlives a loop). Each model's answers are written out as soon as it is done."""
    outcomes: list[Outcome] = []
    for i, spec in enumerate(m for m in models.split(",") if m.strip()):
        model, _, kind = spec.partition("=")
        kind, _, cap = kind.partition("@")
        worker = None
        if model not in served_models(settings):
            print(f"starting a {kind or 'llamacpp'} worker for {model} ...", flush=True)
            worker = start_worker(settings, model, kind or "llamacpp", 21010 + i, settings.state_dir / "logs")
        try:
            generator = Generator(settings.model_copy(update={"llm_model": model}))
            started = time.monotonic()
            for q, hits, passages, gated in capped(contexts, int(cap) if cap else None):
                outcomes.append(await answer_one(generator, q, hits, passages, gated, model,
                                                 settings.answer_withdraw_unsupported))
            print(f"{model}: {len(contexts)} answers in {time.monotonic() - started:.0f} s", flush=True)
        finally:
            if worker:  # free the memory and cores before the next model
                stop(worker)
        if json_path:
            json_path.write_text(json.dumps({"answers": [asdict(o) for o in outcomes]}, ensure_ascii=False))
    return outcomes


# --- report --------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarise(outcomes: list[Outcome]) -> dict:
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    answered = [o for o in outcomes if not o.declined]
    llm = [o for o in outcomes if not o.by_threshold]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "questions": len(outcomes), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "contains_gold": share(sum(o.contains_gold for o in answerable), len(answerable)),
        "f1": round(statistics.mean(o.f1 for o in answerable), 4) if answerable else None,
        "declined_unanswerable": share(sum(o.declined for o in unanswerable), len(unanswerable)),
        "false_declines": share(sum(o.declined for o in answerable), len(answerable)),
        "flagged_ungrounded": share(sum(not o.grounded for o in answered), len(answered)),
        "withdrawn": share(sum(o.withdrawn for o in outcomes), len(outcomes)),
        "looping": share(sum(o.loops for o in outcomes), len(outcomes)),
        "p50_s": round(pct([o.seconds for o in llm], 0.5), 2), "p95_s": round(pct([o.seconds for o in llm], 0.95), 2),
        "first_token_p50_s": round(pct([o.first_token_s for o in llm if o.first_token_s is not None], 0.5), 2),
        "first_token_p95_s": round(pct([o.first_token_s for o in llm if o.first_token_s is not None], 0.95), 2),
    }


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if isinstance(value, float) and value <= 1 and not isinstance(value, bool) else str(value)


def print_table(rows: list[tuple[str, str, dict]]) -> None:
    cols = ["model", "set", "questions", "contains_gold", "f1", "declined_unanswerable", "false_declines",
            "flagged_ungrounded", "withdrawn", "looping", "p50_s", "p95_s", "first_token_p50_s", "first_token_p95_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|")
    for model, name, summary in rows:
        cells = [model, name] + [summary[c] if c.endswith("_s") or c == "questions" else fmt(summary[c])
                                 for c in cols[2:]]
        print("| " + " | ".join(str(c) for c in cells) + " |")


def sweep(outcomes: list[Outcome], thresholds: list[float]) -> None:
    """Declines if the answer threshold were t: the LLM's own declines plus every question whose best
    passage's cosine is below t (English questions; the threshold does not apply to Chinese ones)."""
    print("\n| model | threshold | declined unanswerable | false declines |\n|---|---:|---:|---:|")
    for model in sorted({o.model for o in outcomes}):
        mine = [o for o in outcomes if o.model == model and o.set in ("squad2", "xquad-en")]
        for t in thresholds:
            declined = [o.declined or o.best_cosine < t for o in mine]
            unans = [d for d, o in zip(declined, mine, strict=True) if not o.answerable]
            ans = [d for d, o in zip(declined, mine, strict=True) if o.answerable]
            declined_unans, false_declines = sum(unans) / max(1, len(unans)), sum(ans) / max(1, len(ans))
            print(f"| {model} | {t:.2f} | {fmt(declined_unans)} | {fmt(false_declines)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-set", type=int, default=30, help="Questions per set (SQuAD: this many answerable "
                                                                "and this many unanswerable)")
    parser.add_argument("--split", choices=["tune", "report"], default="report")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--models", default=DEFAULT_MODELS, help="name=kind[@N],... (kind: llamacpp, model_worker; "
                                                                 "@N: only the first N questions of each set and "
                                                                 "kind, for a slow model)")
    parser.add_argument("--context-chunks", type=int, default=0, help="Chunks per prompt (0: the setting)")
    parser.add_argument("--context-tokens", type=int, default=0, help="Passage budget per prompt (0: the setting)")
    parser.add_argument("--answer-min-score", type=float, default=None, help="Answer threshold (default: setting)")
    parser.add_argument("--sweep", default="", help="Comma-separated thresholds to report declines at")
    parser.add_argument("--json", type=Path, default=None, help="Write every answer and the summary here")
    args = parser.parse_args()
    root = data_root()
    chosen = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [name for name in chosen if name not in SETS and name not in ACROSS]
    if unknown:
        sys.exit(f"unknown set(s) {', '.join(unknown)}: choose from {', '.join([*SETS, *ACROSS])}")
    first = SETS[corpus_and_questions(chosen[0])[0]][0]
    if not (root / first).exists():
        sys.exit(f"{root} has no {first}: set RAGWAY_DATA_DIR to the shared evaluation data")

    base = get_settings()
    updates = {"collection": ev.eval_collection(base), "search_consistency": "Bounded",
               "bm25_check_interval_s": 24 * 3600.0}
    if args.context_chunks:
        updates["context_chunks"] = args.context_chunks
    if args.context_tokens:
        updates["context_tokens"] = args.context_tokens
    if args.answer_min_score is not None:
        updates["answer_min_score"] = args.answer_min_score
    settings = base.model_copy(update=updates)
    embedder = get_embedder(settings)
    store = ChunkStore(settings, dim=embedder.dim)
    store.ensure_collection()

    # Retrieval once per question; every model answers from the same passages.
    contexts: list[tuple[Question, list, list, bool]] = []
    rag = RagService(settings, embedder, store, Generator(settings))
    for name in chosen:
        corpus, asked = corpus_and_questions(name)
        folder = root / SETS[corpus][0]
        data = ev.load_beir(folder, "test")
        kb = ev.eval_kb_name(data, settings, embedder.model_name)
        if not ev.kept_kb_is_complete(data, store, kb):
            print(f"ingesting {name} ({len(data.corpus)} documents) into kb {kb} (kept for later runs) ...", flush=True)
            store.delete_kb(ev.EVAL_TENANT, kb)
            ev.ingest_corpus(data, settings, embedder, store, kb)
        for q in sample(name, root / SETS[asked][0], SETS[asked][1], args.split, args.per_set):
            hits = rag.search(ev.EVAL_TENANT, kb, q.text, RetrievalOptions())[: settings.context_chunks]
            gated = rag.below_threshold(q.text, hits)
            contexts.append((q, hits, rag.passages(q.text, hits), gated))
    print(f"{len(contexts)} questions ({args.split} half), {settings.context_chunks} chunks each within "
          f"{settings.context_tokens} tokens, mode "
          f"{settings.retrieval_mode}, threshold {settings.answer_threshold}", flush=True)

    outcomes = asyncio.run(answer_with_every_model(settings, args.models, contexts, args.json))
    rows = [(model, name, summarise([o for o in outcomes if o.model == model and o.set == name]))
            for model in dict.fromkeys(o.model for o in outcomes) for name in chosen]
    print()
    print_table(rows)
    if args.sweep:
        sweep(outcomes, [float(t) for t in args.sweep.split(",")])
    if args.json:
        args.json.write_text(json.dumps({"summary": [{"model": m, "set": n, **s} for m, n, s in rows],
                                         "answers": [asdict(o) for o in outcomes]}, ensure_ascii=False, indent=1))


def stop(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
