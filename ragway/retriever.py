"""Retrieval modes over one kb: dense, BM25, hybrid (dense + BM25) and MMR.

    retriever = Retriever(settings, embedder, store)
    hits = retriever.retrieve(tenant, kb, "query", top_k=5, mode="hybrid", extra_filter=expr)

Hybrid weights the dense list by `hybrid_dense_weight`, or for a query written mostly in CJK script
by `Settings.cjk_dense_weight` (0 with the default English-only all-MiniLM-L6-v2).

`extra_filter` is a Milvus expression from `filters.user_filter` (it can only narrow). Hits come
best first. What `Hit.score` means depends on the mode:

| mode | ranking | `Hit.score` |
|---|---|---|
| dense | cosine similarity of query and chunk embeddings (HNSW) | cosine |
| bm25 | BM25 over the chunk texts (English stemmed, Chinese segmented with jieba) | BM25 score |
| hybrid | dense and BM25 lists (`hybrid_fetch_k` each) fused: weighted RRF or min-max scores | fused |
| mmr | maximal marginal relevance over `mmr_fetch_k` dense candidates (`mmr_lambda`) | cosine |

Under the paired embedder (embedder.PairedEmbedder) a query not in CJK script over a kb with CJK chunks
also gets the multilingual model's vector, which reads those chunks across languages (`QueryVectors`;
dense, hybrid and the cosines of BM25 hits; MMR keeps the main vector). Where every chunk has that
model's half (`multilingual_chunks=all`), a CJK query reads the chunks without CJK text too, and dense
search runs once per script (each chunk records its script in metadata) so neither crowds the other out.

Hits with the same text (the same rows as CSV and as XLSX) take one place: the best one, listing the
others in `Hit.also_in` (`fold_repeated_text`).

Every hit also carries `metadata["retrieval"] = {"mode", "dense", "bm25"}` with the dense cosine
(filled in for BM25 hits too, from their stored embeddings) and the BM25 score
where known, so a caller can apply one cosine threshold ("not found") whatever the mode.

BM25 runs in Milvus where the server has full-text search (>= 2.5; the collection must have been
created by `ChunkStore.ensure_collection` on such a server, which adds an analyzed `indexed_text` and a
BM25 sparse field; fusion then happens in `hybrid_search`). Elsewhere (Milvus 2.3.5 here) it runs in
process: `lexical.Bm25Index` over the kb's chunk texts read from Milvus, each after its context (the
document's title or file name and the section: `records.indexed_text`, what is embedded), cached per kb and rebuilt
when the kb's fingerprint (chunk count + documents' content hashes) changes; the fingerprint is
read at most every `bm25_check_interval_s`. See ragway/lexical.py for its memory cost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import get_args

import numpy as np

from ragway import filters, timing
from ragway.chunk_index import ChunkIndex
from ragway.embedder import Embedder
from ragway.errors import InvalidRequest
from ragway.lexical import Bm25Cache, Bm25Index, LexicalHit, Tokenizer, has_cjk_half
from ragway.records import CJK_TEXT_KEY, Hit, indexed_text
from ragway.settings import RetrievalMode, Settings, relevance_floor

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = get_args(RetrievalMode)


def rrf_fuse(rankings: Sequence[Sequence[str]], k: int = 60,
             weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(id) = sum over lists of w / (k + rank), rank from 1 (w = 1:
    plain RRF; weights let one list count more, e.g. BM25 when the embedder does not know the language)."""
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def fold_repeats(hits: Sequence[Hit]) -> list[Hit]:
    """The hits with each text once: a hit whose text (whitespace aside) a better one already has is folded
    into that one's `also_in`, so the same table kept as CSV and as XLSX takes one place, not two."""
    first: dict[str, int] = {}
    kept: list[Hit] = []
    for hit in hits:
        key = " ".join(hit.text.split())
        if key in first:
            i = first[key]
            kept[i] = replace(kept[i], also_in=(*kept[i].also_in, hit.ref))
        else:
            first[key] = len(kept)
            kept.append(hit)
    return kept


def min_max(items: Sequence[tuple[str, float]]) -> dict[str, float]:
    if not items:
        return {}
    lo, hi = min(s for _, s in items), max(s for _, s in items)
    return {item: (s - lo) / (hi - lo) if hi > lo else 1.0 for item, s in items}


def weighted_fuse(scored: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Weighted sum of each list's min-max normalised scores (an id missing from a list gets 0 there)."""
    fused: dict[str, float] = {}
    for items, weight in zip(scored, weights, strict=True):
        for item, norm in min_max(items).items():
            fused[item] = fused.get(item, 0.0) + weight * norm
    return sorted(fused.items(), key=lambda kv: -kv[1])


def fuse_across(dense: Sequence[tuple[str, float]], lexical: Sequence[tuple[str, float]], w: float,
                unread: set[str]) -> list[tuple[str, float]]:
    """`weighted_fuse` of a dense and a BM25 list where BM25 cannot read the `unread` chunks (Chinese text, a
    question in English: only names and numbers can match): their BM25 share takes their dense score
    where that is higher, so a passage in the other language is not held back for lacking shared words."""
    d, b = min_max(dense), min_max(lexical)
    fused = {item: w * d.get(item, 0.0) + (1 - w) * (max(b.get(item, 0.0), d.get(item, 0.0)) if item in unread
                                                     else b.get(item, 0.0))
             for item in [*d, *(k for k in b if k not in d)]}  # dense order first: stable ties
    return sorted(fused.items(), key=lambda kv: -kv[1])


def script_filter(cjk: bool) -> str:
    """Chunks with (or without) CJK text, where every chunk records which (`multilingual_chunks=all`)."""
    return f'metadata["{CJK_TEXT_KEY}"] == {"true" if cjk else "false"}'


def mmr_order(query_sims: np.ndarray, vectors: np.ndarray, top_k: int, lam: float) -> list[int]:
    """Greedy MMR: next = argmax lam * sim(q, d) - (1 - lam) * max sim(d, chosen); vectors normalised."""
    n = len(query_sims)
    if n == 0:
        return []
    chosen: list[int] = []
    max_sim_chosen = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(min(top_k, n)):
        redundancy = np.where(np.isfinite(max_sim_chosen), max_sim_chosen, 0.0)
        score = np.where(available, lam * query_sims - (1.0 - lam) * redundancy, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        max_sim_chosen = np.maximum(max_sim_chosen, vectors @ vectors[best])
    return chosen


@dataclass(frozen=True)
class QueryVectors:
    """A query's vector (`main`) and, for a query not in CJK script over a kb holding CJK chunks under the
    paired embedder, the multilingual model's vector of it too (`across`): English questions then find
    Chinese passages by meaning. With `across`, a chunk with CJK text is read by the multilingual model
    only (the English-only one's cosine over Chinese text is noise) and its cosine put on the main
    model's scale (`on_main_scale`), so both kinds of chunk rank in one dense list."""

    main: np.ndarray
    across: np.ndarray | None = None
    main_floor: float = 0.0
    across_floor: float = 0.0
    # A CJK query's multilingual vector where every chunk has that model's half (`multilingual_chunks=all`):
    # it reads chunks without CJK text too, across languages.
    main_reads_all: bool = False

    @property
    def crosses(self) -> bool:
        """Whether this query reads chunks written in the other script than its own."""
        return self.across is not None or self.main_reads_all

    def other_script(self, text: str) -> bool:
        """Whether a chunk this query reads is in the other script (BM25 can match only names and numbers)."""
        if self.across is not None:
            return has_cjk_half(text)
        return self.main_reads_all and not has_cjk_half(text)

    def on_main_scale(self, cosine: float) -> float:
        """The multilingual model's cosine mapped linearly so that the floors (the main model's answer
        threshold, 0.2 for all-MiniLM-L6-v2; `cross_lingual_floor` for the other) and 1.0 coincide."""
        return self.main_floor + (cosine - self.across_floor) * (1 - self.main_floor) / (1 - self.across_floor)

    def reader(self, cjk: bool) -> np.ndarray:
        """The vector that reads chunks with (or without) CJK text: `across` reads an English query's CJK chunks."""
        return self.across if cjk and self.across is not None else self.main

    def scaled(self, cosine: float, text: str) -> float:
        """A chunk's cosine from its reader, on the scale of the query's own language."""
        return self.on_main_scale(cosine) if self.other_script(text) else cosine

    def cosine(self, vector: Sequence[float], text: str) -> float:
        """The query-chunk cosine for a chunk's stored vector and text."""
        cosine = float(np.dot(self.reader(has_cjk_half(text)), np.asarray(vector, dtype=np.float32)))
        return self.scaled(cosine, text)


def _with_scores(hit: Hit, score: float, mode: str, dense: float | None, bm25: float | None) -> Hit:
    meta = {**hit.metadata, "retrieval": {"mode": mode, "dense": dense, "bm25": bm25}}
    return replace(hit, score=float(score), metadata=meta)


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkIndex, cache: Bm25Cache | None = None):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.cache = cache or Bm25Cache(settings.bm25_max_kbs)
        self.tokenizer = Tokenizer(stem=settings.bm25_stem, cjk_mode=settings.bm25_cjk_mode,
                                   cjk_chars=settings.bm25_cjk_chars)
        self._checked: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._has_cjk: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._cjk_probe: list[float] | None = None
        self._lock = threading.Lock()

    # --- public ----------------------------------------------------------------------------------
    @property
    def lexical_backend(self) -> str:
        """'milvus' (native BM25 in the collection) or 'memory' (in-process index)."""
        choice = self.settings.lexical_backend
        if choice == "memory":
            return "memory"
        if self.store.has_full_text():
            return "milvus"
        if choice == "milvus":
            raise InvalidRequest(f"collection {self.store.collection} has no full-text fields (needs Milvus >= 2.5 "
                                 f"when it is created; server {self.store.server_version}): "
                                 "set RAGWAY_LEXICAL_BACKEND=auto or memory")
        return "memory"

    def retrieve(self, tenant: str, kb: str, query: str, top_k: int, mode: RetrievalMode = "dense",
                 extra_filter: str = "") -> list[Hit]:
        if mode not in MODES:
            raise InvalidRequest(f"retrieval mode {mode!r} is unknown; use one of {', '.join(MODES)}")
        if top_k <= 0 or not query.strip():
            return []
        if not self.settings.fold_repeated_text:
            return self._ranked(tenant, kb, query, top_k, mode, extra_filter)
        # Twice as many, as repeats are folded: a kb with a table in two formats repeats most of its hits.
        return fold_repeats(self._ranked(tenant, kb, query, 2 * top_k, mode, extra_filter))[:top_k]

    def _ranked(self, tenant: str, kb: str, query: str, top_k: int, mode: RetrievalMode,
                extra_filter: str) -> list[Hit]:
        vector = self.query_vectors(tenant, kb, query)
        if mode == "bm25":
            return self._bm25(tenant, kb, query, vector, top_k, extra_filter)
        if mode == "dense":
            hits = self._dense(tenant, kb, vector, top_k, extra_filter, positive=False)
            return [_with_scores(h, h.score, "dense", h.score, None) for h in hits]
        if mode == "mmr":
            return self._mmr(tenant, kb, vector.main.tolist(), top_k, extra_filter)
        return self._hybrid(tenant, kb, query, vector, top_k, extra_filter)

    def query_vectors(self, tenant: str, kb: str, query: str) -> QueryVectors:
        with timing.phase("embed"):
            main = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
            if self._reads_all_chunks(query):
                return self._all_chunks_vectors(main)
            if not self._reads_across(tenant, kb, query):
                return QueryVectors(main)
            across = np.asarray(self.embedder.embed_query_across(query), dtype=np.float32)
        s = self.settings
        return QueryVectors(main, across, main_floor=relevance_floor(s.main_embedding_model_id),
                            across_floor=s.cross_lingual_floor)

    def _all_chunks_vectors(self, main: np.ndarray) -> QueryVectors:
        """A CJK query's vectors where every chunk has the multilingual half: one model reads both scripts,
        the other script's cosines (lower for the same relevance) mapped onto its own floor."""
        return QueryVectors(main, main_reads_all=True, main_floor=relevance_floor(self.settings.cjk_model_id),
                            across_floor=self.settings.cross_lingual_floor_cjk)

    def _reads_across(self, tenant: str, kb: str, query: str) -> bool:
        """Whether a query also gets the paired multilingual model's vector: `cross_lingual_dense`, a query
        not in CJK script (a CJK one gets only that vector) and a kb with CJK chunks (checked as often as
        the BM25 fingerprint, so a kb without them costs no second embedding and search)."""
        if not (self.settings.cross_lingual_dense and hasattr(self.embedder, "embed_query_across")):
            return False
        if self.settings.is_cjk_query(query):
            return False
        return self._recent(self._has_cjk, (self.store.collection, tenant, kb), lambda: self._probe_cjk(tenant, kb))

    def _probe_cjk(self, tenant: str, kb: str) -> bool:
        """Whether the kb holds chunks with CJK text: only they have the multilingual half, unless every chunk
        has (`multilingual_chunks=all`), where each records whether it is CJK text."""
        if self._cjk_probe is None:  # e5 vectors are all within ~40 degrees: any one scores every CJK chunk > 0
            self._cjk_probe = self.embedder.embed_query_across("文档")
        if self.settings.paired_reads_all_chunks:
            return bool(self.store.search(tenant, kb, self._cjk_probe, 1, extra_filter=script_filter(True)))
        return any(h.score > 0 for h in self.store.search(tenant, kb, self._cjk_probe, 1))

    def _reads_all_chunks(self, query: str) -> bool:
        return self.settings.paired_reads_all_chunks and self.settings.is_cjk_query(query)

    def _recent(self, cache: dict, key: tuple[str, str, str], read):
        """`read()`'s value for a kb, read again at most every `bm25_check_interval_s`."""
        now = time.monotonic()
        with self._lock:
            known = cache.get(key)
        if known is not None and now - known[0] < self.settings.bm25_check_interval_s:
            return known[1]
        value = read()
        with self._lock:
            cache[key] = (now, value)
        return value

    # --- modes -----------------------------------------------------------------------------------
    def _dense(self, tenant: str, kb: str, vector: QueryVectors, top_k: int, extra_filter: str,
               positive: bool = True) -> list[Hit]:
        """Nearest chunks; `positive`: only those with a positive score, for fusion (a CJK query scores 0 on a
        chunk without a CJK half, embedder.PairedEmbedder, and such a chunk is no dense hit). With an
        `across` vector, chunks with CJK text come from its search instead, on the main model's scale."""
        if self.settings.paired_reads_all_chunks and vector.crosses:
            hits = self._dense_by_script(tenant, kb, vector, top_k, extra_filter)
            return [h for h in hits if h.score > 0] if positive else hits
        if vector.across is None:
            hits = self.store.search(tenant, kb, vector.main.tolist(), top_k, extra_filter=extra_filter)
            return [h for h in hits if h.score > 0] if positive else hits
        hits, across = self.store.search_many(tenant, kb, [vector.main.tolist(), vector.across.tolist()], top_k,
                                              extra_filter=extra_filter)
        if positive:
            hits = [h for h in hits if h.score > 0]
        merged = [h for h in hits if not has_cjk_half(h.text)]
        merged += [replace(h, score=vector.on_main_scale(h.score)) for h in across if h.score > 0]
        return sorted(merged, key=lambda h: -h.score)[:top_k]

    def _dense_by_script(self, tenant: str, kb: str, vector: QueryVectors, top_k: int,
                         extra_filter: str) -> list[Hit]:
        """Where every chunk has the multilingual half (`multilingual_chunks=all`): one search per script, by
        the vector that reads it (CJK chunks: `across` for an English query), the other script's cosines put on
        the query's scale. Apart, so one script's chunks cannot crowd the other's out of the top."""
        hits: list[Hit] = []
        for cjk in (True, False):
            expr = filters.all_of(extra_filter, script_filter(cjk))
            for h in self.store.search(tenant, kb, vector.reader(cjk).tolist(), top_k, extra_filter=expr):
                hits.append(replace(h, score=vector.scaled(h.score, h.text)))
        return sorted(hits, key=lambda h: -h.score)[:top_k]

    def _mmr(self, tenant: str, kb: str, vector: list[float], top_k: int, extra_filter: str) -> list[Hit]:
        candidates = self.store.search_with_vectors(tenant, kb, vector, max(self.settings.mmr_fetch_k, top_k),
                                                    extra_filter=extra_filter)
        if not candidates:
            return []
        sims = np.array([h.score for h, _ in candidates], dtype=np.float32)
        vectors = np.array([v for _, v in candidates], dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        order = mmr_order(sims, vectors, top_k, self.settings.mmr_lambda)
        return [_with_scores(candidates[i][0], candidates[i][0].score, "mmr", candidates[i][0].score, None)
                for i in order]

    def _bm25(self, tenant: str, kb: str, query: str, vector: QueryVectors, top_k: int,
              extra_filter: str) -> list[Hit]:
        """BM25's ranking; each hit also gets its cosine from its stored embedding, so a score threshold
        or the answer threshold means the same as in the other modes."""
        ranked = self._lexical_list(tenant, kb, query, top_k, extra_filter)
        found = self.store.fetch_hits(tenant, kb, [cid for cid, _ in ranked], with_vectors=True,
                                      extra_filter=extra_filter)
        hits = []
        for cid, score in ranked:
            if cid in found:
                base, vec = found[cid]
                hits.append(_with_scores(base, score, "bm25", vector.cosine(vec, base.text), score))
        return hits[:top_k]

    def dense_weight(self, query: str) -> float:
        """The dense list's hybrid weight for this query: lower for CJK queries when the embedder
        does not read them (`hybrid_dense_weight_cjk`)."""
        s = self.settings
        return s.cjk_dense_weight if s.is_cjk_query(query) else s.hybrid_dense_weight

    def _hybrid(self, tenant: str, kb: str, query: str, vector: QueryVectors, top_k: int,
                extra_filter: str) -> list[Hit]:
        s = self.settings
        fetch_k = max(s.hybrid_fetch_k, top_k)
        w = self.dense_weight(query)
        if self.lexical_backend == "milvus" and s.hybrid_fusion == "rrf" and w == 0.5 and vector.across is None:
            # Plain RRF is what the server's RRFRanker computes. Its WeightedRanker normalises scores
            # otherwise (arctan) than the min-max fusion tuned here, so weighted lists are fused below.
            return self._hybrid_native(tenant, kb, query, vector, top_k, fetch_k, extra_filter)
        dense = self._dense(tenant, kb, vector, fetch_k, extra_filter)
        lexical = self._lexical_list(tenant, kb, query, fetch_k, extra_filter)
        dense_by_id = {h.chunk_id: h for h in dense}
        bm25_by_id = dict(lexical)
        if s.hybrid_fusion == "rrf":
            fused = rrf_fuse([[h.chunk_id for h in dense], [cid for cid, _ in lexical]], k=s.rrf_k,
                             weights=[2 * w, 2 * (1 - w)])  # 0.5: plain RRF
        elif vector.crosses:
            unread = {h.chunk_id for h in dense if vector.other_script(h.text)}
            fused = fuse_across([(h.chunk_id, h.score) for h in dense], lexical, w, unread)
        else:
            fused = weighted_fuse([[(h.chunk_id, h.score) for h in dense], lexical], [w, 1.0 - w])
        # BM25-only chunks: read them (the filter applies here too) with embeddings for their cosine;
        # a filtered search reads a margin, for chunks the filter drops.
        head = fused[: top_k * 2] if extra_filter else fused[:top_k]
        missing = [cid for cid, _ in head if cid not in dense_by_id]
        fetched = self.store.fetch_hits(tenant, kb, missing, with_vectors=True, extra_filter=extra_filter)
        hits: list[Hit] = []
        for cid, score in fused:
            if cid in dense_by_id:
                base, cosine = dense_by_id[cid], dense_by_id[cid].score
            elif cid in fetched:
                base, vec = fetched[cid]
                cosine = vector.cosine(vec, base.text)
            else:
                continue  # beyond the fetched head, or excluded by the filter
            hits.append(_with_scores(base, score, "hybrid", cosine, bm25_by_id.get(cid)))
            if len(hits) == top_k:
                break
        return hits

    def _hybrid_native(self, tenant: str, kb: str, query: str, vector: QueryVectors, top_k: int, fetch_k: int,
                       extra_filter: str) -> list[Hit]:
        fused_hits = self.store.hybrid_search_native(tenant, kb, query, vector.main.tolist(), top_k, fetch_k,
                                                     self.settings.rrf_k, extra_filter)
        vectors = self.store.fetch_hits(tenant, kb, [h.chunk_id for h in fused_hits], with_vectors=True)
        return [_with_scores(h, h.score, "hybrid",
                             vector.cosine(vectors[h.chunk_id][1], h.text) if h.chunk_id in vectors else None, None)
                for h in fused_hits]

    def _lexical_list(self, tenant: str, kb: str, query: str, top_k: int, extra_filter: str) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first, from Milvus or the in-process index (which over-fetches
        when filtered: the filter is applied when the chunks are read)."""
        if self.lexical_backend == "milvus":
            return [(h.chunk_id, h.score) for h in self.store.search_text(tenant, kb, query, top_k,
                                                                            extra_filter=extra_filter)]
        return [(h.chunk_id, h.score) for h in self._memory_bm25(tenant, kb, query, top_k, extra_filter)]

    # --- in-process BM25 (servers without full-text search) --------------------------------------
    def _memory_bm25(self, tenant: str, kb: str, query: str, top_k: int, extra_filter: str) -> list[LexicalHit]:
        index = self.bm25_index(tenant, kb)
        # The index cannot apply a metadata filter: take more, the store drops what the filter excludes.
        with timing.phase("bm25"):
            return index.search(query, top_k * 4 if extra_filter else top_k)

    def bm25_index(self, tenant: str, kb: str) -> Bm25Index:
        key = (self.store.collection, tenant, kb)
        fingerprint = self._recent(self._checked, key, lambda: self.store.kb_fingerprint(tenant, kb))
        return self.cache.get(key, fingerprint, lambda: self._build(tenant, kb, fingerprint))

    def _build(self, tenant: str, kb: str, fingerprint: str) -> Bm25Index:
        started = time.perf_counter()
        ids, texts = [], []
        for row in self.store.iter_rows(tenant, kb, ["chunk_id", "text", "metadata"]):
            ids.append(row["chunk_id"])
            texts.append(indexed_text(row["text"], row.get("metadata")))  # with its context, as embedded
        index = Bm25Index(ids, texts, self.tokenizer, k1=self.settings.bm25_k1, b=self.settings.bm25_b,
                          fingerprint=fingerprint)
        log.info("BM25 index of %s/%s: %d chunks in %.1f s", tenant, kb, len(ids), time.perf_counter() - started)
        return index
