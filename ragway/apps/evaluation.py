"""Retrieval evaluation on BEIR-layout datasets: loading, metrics, and `ragway eval`'s run.

A BEIR folder holds `corpus.jsonl` (`{"_id", "title", "text"}`), `queries.jsonl` (`{"_id", "text"}`)
and `qrels/<split>.tsv` (`query-id<TAB>corpus-id<TAB>score`, with a header line). Metrics follow
the definitions of trec_eval / BEIR:

- nDCG@k with graded relevance and the linear gain (gain = relevance grade, discount log2(rank+1)),
  ideal DCG from the query's judged documents sorted by grade; judged grade 0 is not relevant.
- recall@k = relevant documents in the top k / all relevant documents of the query.
- MRR@k = 1 / rank of the first relevant document in the top k (0 if none).

Every metric is averaged over the queries that have at least one relevant document in the qrels;
a query that retrieved nothing counts 0.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragway.settings import DEFAULT_EMBEDDING_ID

Qrels = dict[str, dict[str, int]]  # query id -> corpus id -> relevance grade
Run = dict[str, list[str]]  # query id -> ranked corpus ids, best first (no duplicates)

RECALL_KS = (1, 5, 10, 100)
HEAD_K = 10  # nDCG@10, MRR@10
METRIC_NAMES = ("ndcg@10", *(f"recall@{k}" for k in RECALL_KS), "mrr@10")


@dataclass(frozen=True)
class BeirDocument:
    doc_id: str
    title: str
    text: str


@dataclass
class BeirDataset:
    name: str
    corpus: dict[str, BeirDocument]
    queries: dict[str, str]
    qrels: Qrels
    split: str

    @property
    def judged_queries(self) -> list[str]:
        """Queries of the split that have a relevant document and a text, in qrels order."""
        return [q for q, docs in self.qrels.items() if q in self.queries and any(g > 0 for g in docs.values())]


def _read_jsonl(path: Path) -> Iterable[dict]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no}: not JSON: {exc}") from exc


def load_qrels(path: Path) -> Qrels:
    """`query-id<TAB>corpus-id<TAB>score` with a header line (skipped when its score is not a number)."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row_no, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{row_no}: expected query-id, corpus-id, score")
            try:
                grade = int(float(row[2]))
            except ValueError:
                if row_no == 1:
                    continue  # the header
                raise ValueError(f"{path}:{row_no}: score {row[2]!r} is not a number") from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.exists():
            splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
            raise FileNotFoundError(f"{path} is missing (a BEIR folder has corpus.jsonl, queries.jsonl, "
                                    f"qrels/<split>.tsv; splits here: {', '.join(splits) or 'none'})")
    corpus = {}
    for row in _read_jsonl(folder / "corpus.jsonl"):
        doc_id = str(row["_id"])
        corpus[doc_id] = BeirDocument(doc_id, str(row.get("title") or ""), str(row.get("text") or ""))
    queries = {str(row["_id"]): str(row["text"]) for row in _read_jsonl(folder / "queries.jsonl")}
    name = folder.name if folder.name not in ("beir", "beir-dev") else f"{folder.parent.name}-{folder.name}"
    return BeirDataset(name=name, corpus=corpus, queries=queries, qrels=load_qrels(qrels_path), split=split)


def load_squad(path: Path) -> BeirDataset:
    """A SQuAD-style JSON file (`data[].paragraphs[].{id, context, qas[].{id, question}}`, e.g. CMRC 2018's
    trial set) as a retrieval set: each paragraph is a document, each question's relevant document
    is its own paragraph. Unanswerable questions (`is_impossible`) are left out."""
    path = Path(path)
    try:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a SQuAD-style JSON file with a 'data' list: {exc}") from exc
    corpus, queries, qrels = {}, {}, {}
    for a_no, article in enumerate(articles):
        title = str(article.get("title") or "")
        for p_no, paragraph in enumerate(article.get("paragraphs") or []):
            doc_id = str(paragraph.get("id") or f"{a_no}-{p_no}")
            corpus[doc_id] = BeirDocument(doc_id, title, str(paragraph.get("context") or ""))
            for qa in paragraph.get("qas") or []:
                if qa.get("is_impossible"):
                    continue
                queries[str(qa["id"])] = str(qa["question"])
                qrels[str(qa["id"])] = {doc_id: 1}
    return BeirDataset(name=path.stem, corpus=corpus, queries=queries, qrels=qrels, split="all")


def load_dataset(path: Path, split: str = "test") -> BeirDataset:
    """A BEIR folder (scored on `qrels/<split>.tsv`) or a SQuAD-style JSON file (every question)."""
    path = Path(path)
    return load_squad(path) if path.is_file() else load_beir(path, split)


# --- metrics -------------------------------------------------------------------------------------
def dedupe(ranked: Iterable[str]) -> list[str]:
    """Keep each id at its best (first) rank: a document's score is its best chunk's."""
    seen: set[str] = set()
    return [d for d in ranked if not (d in seen or seen.add(d))]


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if relevant.get(d, 0) > 0)
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def query_metrics(ranked: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    ranked = dedupe(ranked)
    out = {"ndcg@10": ndcg_at_k(ranked, relevant, 10)}
    out.update({f"recall@{k}": recall_at_k(ranked, relevant, k) for k in RECALL_KS})
    out["mrr@10"] = mrr_at_k(ranked, relevant, 10)
    return out


def evaluate(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean of each metric over the queries of `qrels` with a relevant document (missing run = 0)."""
    judged = [q for q, docs in qrels.items() if any(g > 0 for g in docs.values())]
    if not judged:
        return {name: 0.0 for name in METRIC_NAMES}
    per_query = [query_metrics(run.get(q, []), qrels[q]) for q in judged]
    return {name: sum(m[name] for m in per_query) / len(per_query) for name in METRIC_NAMES}


@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    latencies_ms: list[float] = field(default_factory=list)
    queries: int = 0
    run: Run = field(default_factory=dict)  # query id -> ranked corpus ids

    def as_dict(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {"mode": self.mode, "queries": self.queries, **{k: round(v, 4) for k, v in self.metrics.items()},
                "latency_ms_p50": round(statistics.median(lat), 2) if lat else None,
                "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2) if lat else None,
                "latency_ms_mean": round(statistics.fmean(lat), 2) if lat else None}


# --- `ragway eval`: ingest a BEIR corpus into a throwaway kb and run every retrieval mode --------
EVAL_TENANT = "eval"


@dataclass
class EvalReport:
    dataset: str
    split: str
    collection: str
    kb: str
    documents: int
    chunks: int
    queries: int
    ingest_s: float
    bm25_build_s: float | None
    query_embed_ms_p50: float
    settings: dict
    results: list[ModeResult]
    answers: dict | None = None  # AnswerReport.as_dict() when --answers was asked

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "split": self.split, "collection": self.collection, "kb": self.kb,
                "documents": self.documents, "chunks": self.chunks, "queries": self.queries,
                "ingest_s": round(self.ingest_s, 1),
                "bm25_build_s": None if self.bm25_build_s is None else round(self.bm25_build_s, 2),
                "query_embed_ms_p50": self.query_embed_ms_p50,
                "settings": self.settings, "modes": [r.as_dict() for r in self.results],
                **({"answers": self.answers} if self.answers is not None else {})}


def eval_collection(settings) -> str:
    """`ragway_eval`, or `ragway_eval_<model>` for an embedder other than the default: one collection
    holds one model's vectors (`ChunkStore` refuses to mix them)."""
    model = settings.embedding_model_id
    if model == DEFAULT_EMBEDDING_ID:
        return "ragway_eval"
    return "ragway_eval_" + re.sub(r"[^0-9A-Za-z_]", "_", model).lower()


def eval_kb_name(dataset: BeirDataset, settings, model_name: str) -> str:
    """One kb per (dataset, corpus size, chunking and its version, embedding model): a kept kb is
    reused as is."""
    import hashlib
    import re

    from ragway.splitter import CHUNKING_VERSION

    key = f"{len(dataset.corpus)}|{settings.chunk_size}|{settings.chunk_overlap}|{model_name}|{CHUNKING_VERSION}"
    if settings.embed_chunk_context:
        key += "|context-embedded"
    stem = re.sub(r"[^\w.\-]", "_", dataset.name)[:40]
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def kept_kb_is_complete(dataset: BeirDataset, store, kb: str) -> bool:
    """Whether `kb` holds every corpus document already (one first chunk per document), so a
    kept kb is reused rather than ingested again."""
    first_chunks = store.iter_rows(EVAL_TENANT, kb, ["chunk_id"], extra_filter="chunk_index == 0")
    return sum(1 for _ in first_chunks) == len(dataset.corpus)


def document_text(doc: BeirDocument) -> str:
    """What is ingested for a corpus entry: its title as the first line, then its text (BEIR's
    convention of title + text); the splitter keeps the title with the first chunk."""
    return f"{doc.title}\n\n{doc.text}" if doc.title.strip() else doc.text


def ingest_corpus(dataset: BeirDataset, settings, embedder, store, kb: str, progress=None,
                  batch_docs: int = 64) -> int:
    """Split, embed and store every corpus document as one document of `kb` (source = corpus id),
    in-process with the ingest pipeline's own pieces (Splitter, Ingestor.write). Returns chunks."""
    from ragway import ids
    from ragway.ingest import Ingestor, PreparedDocument
    from ragway.records import Section
    from ragway.splitter import Splitter

    splitter = Splitter(settings)
    ingestor = Ingestor(splitter, embedder, store)
    prepared = []
    for doc in dataset.corpus.values():
        text = document_text(doc)
        pieces = splitter.split([Section(text=text, page=0, title=doc.title)])
        if pieces:
            prepared.append(PreparedDocument(EVAL_TENANT, kb, doc.doc_id, ids.document_id(EVAL_TENANT, kb, doc.doc_id),
                                             ids.content_hash(text.encode("utf-8")), pieces, job_id="eval",
                                             title=doc.title))  # the context names the title, never the id
    total = sum(len(d.pieces) for d in prepared)
    if progress:
        progress.start(total)
    written = 0
    for start in range(0, len(prepared), batch_docs):
        batch = prepared[start:start + batch_docs]
        written += sum(r.chunks for r in ingestor.write(batch))
        if progress:
            progress.advance(sum(len(d.pieces) for d in batch))
    return written


def run_queries(retriever, kb: str, dataset: BeirDataset, mode: str, depth: int, limit: int | None = None,
                progress=None) -> ModeResult:
    """Every judged query of the split through one mode; chunk hits map to their corpus document
    (its best chunk's rank). MMR re-ranks its `mmr_fetch_k` candidates; deeper ranks (for recall@100)
    are the dense list's. Hybrid's top 10 is what a request of top_k 10 returns (its fused lists are
    `hybrid_fetch_k` deep); deeper ranks come from a request of top_k `depth`."""
    import time

    query_ids = dataset.judged_queries[:limit] if limit else dataset.judged_queries
    run: Run = {}
    latencies = []
    if progress:
        progress.start(len(query_ids))
    for qid in query_ids:
        text = dataset.queries[qid]
        started = time.perf_counter()
        if mode == "mmr":
            hits = retriever.retrieve(EVAL_TENANT, kb, text, min(depth, retriever.settings.mmr_fetch_k), mode="mmr")
            latencies.append((time.perf_counter() - started) * 1000)
            hits = hits + retriever.retrieve(EVAL_TENANT, kb, text, depth, mode="dense")
        elif mode == "hybrid":
            # The top 10 as a service request of top_k 10 gets it (each list fetched `hybrid_fetch_k` deep);
            # deeper ranks from one request of top_k `depth` (fetched that deep).
            hits = retriever.retrieve(EVAL_TENANT, kb, text, min(depth, HEAD_K), mode="hybrid")
            latencies.append((time.perf_counter() - started) * 1000)
            if depth > HEAD_K:
                hits = hits + retriever.retrieve(EVAL_TENANT, kb, text, depth, mode="hybrid")
        else:
            hits = retriever.retrieve(EVAL_TENANT, kb, text, depth, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
        run[qid] = dedupe(h.source for h in hits)
        if progress:
            progress.advance(1)
    qrels = {q: dataset.qrels[q] for q in query_ids}
    return ModeResult(mode=mode, metrics=evaluate(run, qrels), latencies_ms=latencies, queries=len(query_ids), run=run)


class PrecomputedQueries:
    """An embedder stand-in whose `embed_query` serves vectors encoded beforehand, so every mode scores
    the same vectors and the latency columns measure retrieval (Milvus, BM25, fusion). The single-query
    encoding time is reported on its own (`query_embed_ms_p50`).

    Each query is encoded alone, as the service encodes a request's: the ONNX int8 model quantizes its
    activations per batch, so a query encoded in a batch gets a slightly different vector (cosine
    0.984-1.0 on the dev QA set), enough to move dense hit@5 on the dev set's tune half by 0.04."""

    def __init__(self, embedder, texts: Sequence[str], progress=None):
        self.embedder = embedder
        self.dim = embedder.dim
        self.vectors: dict[str, list[float]] = {}
        unique = list(dict.fromkeys(texts))
        if progress:
            progress.start(len(unique))
        self.across: dict[str, list[float]] = {}
        reads_across = hasattr(embedder, "embed_query_across")  # the paired embedder (retriever.QueryVectors)
        if reads_across:
            self.embed_query_across = self._embed_query_across
        for text in unique:
            self.vectors[text] = embedder.embed_query(text)
            if reads_across:
                self.across[text] = embedder.embed_query_across(text)
            if progress:
                progress.advance(1)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = self.vectors.get(text)
        return vector if vector is not None else self.embedder.embed_query(text)

    def _embed_query_across(self, text: str) -> list[float]:
        vector = self.across.get(text)
        return vector if vector is not None else self.embedder.embed_query_across(text)


def single_query_embed_ms(embedder, texts: Sequence[str], n: int = 30) -> float:
    import time

    times = []
    for text in list(texts)[:n]:
        started = time.perf_counter()
        embedder.embed_query(text)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2) if times else 0.0


# --- honest answers: does the answer decline where the documents hold no answer? ------------------
def load_answerability(folder: Path) -> dict[str, tuple[bool, list[str]]]:
    """query id -> (answerable, gold answers) from SQuAD-2.0-style `metadata.is_impossible` / `answers`
    in queries.jsonl; queries without that metadata are left out."""
    out = {}
    for row in _read_jsonl(Path(folder) / "queries.jsonl"):
        meta = row.get("metadata") or {}
        if "is_impossible" in meta:
            out[str(row["_id"])] = (not meta["is_impossible"], [str(a) for a in meta.get("answers") or []])
    return out


@dataclass
class AnswerReport:
    unanswerable: int = 0
    declined_unanswerable: int = 0  # the goal: high
    declined_by_threshold: int = 0  # of those, declined before the LLM (nothing above the score threshold)
    answerable: int = 0
    declined_answerable: int = 0  # false declines: low
    gold_in_answer: int = 0  # answerable questions whose answer contains a gold answer string

    def as_dict(self) -> dict:
        def share(a: int, b: int) -> float:
            return round(a / b, 4) if b else 0.0

        return {"unanswerable": self.unanswerable, "answerable": self.answerable,
                "declined_unanswerable": share(self.declined_unanswerable, self.unanswerable),
                "declined_by_threshold": share(self.declined_by_threshold, self.unanswerable),
                "false_declines_answerable": share(self.declined_answerable, self.answerable),
                "gold_in_answer_answerable": share(self.gold_in_answer, self.answerable)}


def run_answers(rag, kb: str, dataset: BeirDataset, answerability: dict[str, tuple[bool, list[str]]], n: int,
                options, progress=None) -> AnswerReport:
    """The first `n` unanswerable and `n` answerable questions (queries.jsonl order) through `rag.ask` (retrieval,
    score threshold, LLM) as a user would ask them; counts declines and gold answers."""
    picked = {True: [], False: []}
    for qid, (answerable, _) in answerability.items():
        if qid in dataset.queries and len(picked[answerable]) < n:
            picked[answerability[qid][0]].append(qid)
    report = AnswerReport()
    if progress:
        progress.start(len(picked[True]) + len(picked[False]))
    for answerable, qids in picked.items():
        for qid in qids:
            answer = rag.ask(EVAL_TENANT, kb, dataset.queries[qid], options)
            declined = answer.declined
            if answerable:
                report.answerable += 1
                report.declined_answerable += declined
                golds = [g.lower() for g in answerability[qid][1] if g.strip()]
                report.gold_in_answer += any(g in answer.answer.lower() for g in golds)
            else:
                report.unanswerable += 1
                report.declined_unanswerable += declined
                report.declined_by_threshold += not answer.sources
            if progress:
                progress.advance(1)
    return report


# --- `ragway eval --qa`: questions over real files, each with the evidence that answers it -------
# A QA file (JSON lines, e.g. tests/data/devqa.jsonl) holds one question per line: `id`, `question`,
# `file` (path under the docs folder; null when no file answers it), `also_files` (other files that hold
# the same answer), `locator` (page/sheet/section, for people), `evidence` (strings that must all occur in
# one retrieved chunk of the file, found with an extractor other than Ragway's parser), `lang`, `format`,
# `subsets` (table, deep-page, paraphrase, names-document, unanswerable) and `split` (tune or report,
# fixed before anything was measured). A hit is a chunk of the file holding every evidence string, compared
# after `normalize_evidence`, so extractor differences in spacing, markup, ligatures and table separators
# do not matter.
QA_KS = (1, 5, 10)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def data_dir() -> Path:
    """The shared evaluation data: `RAGWAY_DATA_DIR`, else `../shared/data` beside the project folder."""
    import os

    return Path(os.environ.get("RAGWAY_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))


def normalize_evidence(text: str) -> str:
    """Letters and digits only, NFKC-folded and case-folded: "Stage IIB | 2–5 cm" -> "stageiib25cm"."""
    import unicodedata

    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class QaItem:
    id: str
    question: str
    file: str | None
    evidence: tuple[str, ...]
    lang: str
    format: str | None
    subsets: tuple[str, ...]
    split: str
    locator: str | None = None
    also_files: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.file is not None

    @property
    def files(self) -> tuple[str, ...]:
        return ((self.file,) if self.file else ()) + self.also_files

    def groups(self) -> list[str]:
        """The report rows this question counts in."""
        if not self.answerable:
            return []
        return ["all", f"format:{self.format}", f"lang:{self.lang}", *(f"subset:{s}" for s in self.subsets)]

    def holds(self, source: str, text: str) -> bool:
        if source not in self.files:
            return False
        found = normalize_evidence(text)
        return all(normalize_evidence(e) in found for e in self.evidence)

    def found_in(self, hit) -> bool:
        """Whether a hit holds the evidence, from its own file or one whose same text was folded into it."""
        return any(self.holds(source, hit.text) for source in hit.sources)


def load_qa(path: Path, split: str = "all") -> list[QaItem]:
    """The questions of a QA file, of one split (`tune`, `report`) or `all`."""
    items = []
    for row in _read_jsonl(Path(path)):
        try:
            item = QaItem(id=str(row["id"]), question=str(row["question"]), file=row.get("file"),
                          evidence=tuple(row.get("evidence") or ()), lang=str(row.get("lang") or "en"),
                          format=row.get("format"), subsets=tuple(row.get("subsets") or ()), split=str(row["split"]),
                          locator=row.get("locator"), also_files=tuple(row.get("also_files") or ()))
        except KeyError as exc:
            raise ValueError(f"{path}: question {row.get('id')!r} has no {exc}") from None
        if item.answerable and not item.evidence:
            raise ValueError(f"{path}: question {item.id} names a file but no evidence")
        if split == "all" or item.split == split:
            items.append(item)
    if split not in ("all", "tune", "report"):
        raise ValueError(f"split {split!r}: use tune, report or all")
    return items


def qa_kb_name(path: Path, settings, model_name: str) -> str:
    """One kb per (QA file, chunking and its version, embedding model). Files already stored unchanged are
    skipped by the ingestor, so a kb grows with the files a QA file needs and is never ingested twice."""
    import hashlib

    from ragway.splitter import CHUNKING_VERSION

    key = f"{settings.chunk_size}|{settings.chunk_overlap}|{model_name}|{CHUNKING_VERSION}"
    if settings.embed_chunk_context:
        key += "|context-embedded"
    stem = re.sub(r"[^\w.\-]", "_", Path(path).stem)[:40]
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def ingest_files(docs_dir: Path, files: Sequence[str], settings, embedder, store, kb: str,
                 progress=None) -> dict[str, str]:
    """Each file (path under `docs_dir`, its source name) through the service's own ingestor (loader,
    splitter, embedder, store), one at a time; unchanged stored files are skipped. Returns the files that
    failed, with their reason (questions about them then count as misses)."""
    from ragway.errors import DocumentError
    from ragway.ingest import Ingestor, IngestResult
    from ragway.splitter import Splitter

    ingestor = Ingestor(Splitter(settings), embedder, store)
    failed = {}
    if progress:
        progress.start(len(files))
    for rel in files:
        path = Path(docs_dir) / rel
        try:
            prepared = ingestor.prepare(EVAL_TENANT, kb, rel, path.read_bytes(), job_id="eval")
            if not isinstance(prepared, IngestResult):
                ingestor.write([prepared])
        except (DocumentError, OSError) as exc:
            failed[rel] = str(exc)
        if progress:
            progress.advance(1)
    return failed


@dataclass
class QaModeResult:
    mode: str
    ranks: dict[str, int | None]  # answerable question id -> rank (1-based) of its first evidence chunk
    best_cosine: dict[str, float]  # question id -> best query-chunk cosine of its top context chunks
    latencies_ms: list[float] = field(default_factory=list)


def qa_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    if not n:
        return {**{f"hit@{k}": 0.0 for k in QA_KS}, "mrr@10": 0.0}
    out = {f"hit@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in QA_KS}
    out["mrr@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return out


def run_qa(retriever, kb: str, items: Sequence[QaItem], mode: str, depth: int = 10, progress=None) -> QaModeResult:
    """Every question through one mode as a top_k `depth` request; the rank of the first chunk holding
    the evidence, and the best dense cosine of the first `context_chunks` (what the answer threshold reads)."""
    import time

    from ragway.rag import cosine_of

    result = QaModeResult(mode=mode, ranks={}, best_cosine={})
    if progress:
        progress.start(len(items))
    for item in items:
        started = time.perf_counter()
        hits = retriever.retrieve(EVAL_TENANT, kb, item.question, depth, mode=mode)
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        head = hits[: retriever.settings.context_chunks]
        result.best_cosine[item.id] = max((cosine_of(h) for h in head), default=0.0)
        if item.answerable:
            result.ranks[item.id] = next((i for i, h in enumerate(hits, start=1) if item.found_in(h)), None)
        if progress:
            progress.advance(1)
    return result


def qa_report(items: Sequence[QaItem], results: Sequence[QaModeResult], min_score: float,
              threshold_reads=lambda item: True) -> dict:
    """Per group (all, format, language, subset): questions and each mode's hit@1/5/10 and MRR@10; for the
    unanswerable questions, the share the answer threshold (best cosine < `min_score`) would decline, and the
    share of answerable ones it would wrongly decline (`threshold_reads(item)`: the threshold applies)."""
    groups: dict[str, list[QaItem]] = {}
    for item in items:
        for g in item.groups():
            groups.setdefault(g, []).append(item)
    order = sorted(groups, key=lambda g: (g != "all", g.split(":")[0], g))
    rows = []
    for g in order:
        row = {"group": g, "questions": len(groups[g])}
        for r in results:
            row[r.mode] = {k: round(v, 4) for k, v in qa_metrics([r.ranks[i.id] for i in groups[g]]).items()}
        rows.append(row)
    unanswerable = [i for i in items if not i.answerable]
    answerable = [i for i in items if i.answerable]
    def declined(r: QaModeResult, selected: Sequence[QaItem]) -> float | None:
        checked = [i for i in selected if threshold_reads(i)]
        if not checked:
            return None
        return round(sum(1 for i in checked if r.best_cosine[i.id] < min_score) / len(checked), 4)

    threshold = {}
    for r in results:
        lat = sorted(r.latencies_ms)
        threshold[r.mode] = {"unanswerable_declined": declined(r, unanswerable),
                             "answerable_declined": declined(r, answerable),
                             "latency_ms_p50": round(statistics.median(lat), 2) if lat else None}
    misses = {r.mode: sorted(i.id for i in answerable if r.ranks[i.id] is None or r.ranks[i.id] > 5)
              for r in results}
    return {"groups": rows, "unanswerable": len(unanswerable), "threshold": threshold, "min_score": min_score,
            "misses_at_5": misses, "ranks": {r.mode: r.ranks for r in results}}
