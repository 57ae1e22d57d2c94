"""Gateway load, side by side with the raw baseline, in one run.

    .venv/bin/python bench/load.py [--seconds 20] [--rounds 4] [--clients 1,8,32] [--chat-seconds 20]

Against a knowledge base of 10k chunks (Wikipedia paragraphs from RAGWAY_DATA_DIR, embedded and
stored once, then reused by later runs):

  raw          query embedding + through plain pymilvus the Milvus reads the default mode makes for
               that query (hybrid: a dense search of hybrid_fetch_k, and a read by id of BM25-only
               chunks where the fused top_k has them; found by running the service's Retriever here
               untimed), same filter, consistency and output fields; the hits are read; one process,
               serial. The gateway reads the kb's write stamp per request (ragway/freshness.py), raw
               once. A second raw row: one dense top_k search, what a bare vector search costs
  /v1/search   1, 8 and 32 concurrent clients through the gateway, each for a fixed time; the
               1-client run alternates with raw in --rounds slices (same queries), and the ratio
               is reported per round; GET /healthz at 1 client shows the bare HTTP cost
  /v1/chat     a shorter run of /v1/chat/completions on the kb model (1 and 4 clients)

Reports p50 / p95 / p99 latency, requests/s and errors. The clients run on the same 2 cores as
the gateway, Milvus and the LLM, so absolute numbers understate a real deployment; the ratio of
gateway to raw at one client is the figure to watch. Needs the local stack (`ragway stack up`).

    nice -n 10 .venv/bin/python bench/load.py --scale [--chunks 100000] [--ingest-only] [--queries 200] [--rounds 4]

--scale: hybrid (the default mode) at 100k chunks, where Milvus 2.3.5 makes the gateway run BM25 in
process (ragway/lexical.py). A kb of ~100k chunks (whole Wikipedia articles, one document each) is
built once with the service's own ingestor in this process (~20-25 min of both cores; resumable;
--ingest-only stops there), then one table: dense and hybrid through the gateway at one client,
alternating query by query (warm p50/p95 and their ratio); hybrid cold (the gateway's first search of
the kb: it builds the BM25 index; cold only on the first run after the gateway started); the index's
memory (the gateway's RSS delta over that first search, and in this process the RSS delta and a
measured size of the same index) and build time; after one document changes, the latency of
searches while the gateway rebuilds (none waits) and the time until BM25 finds the changed text."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import aiohttp  # noqa: E402

from bench.common import paragraphs  # noqa: E402
from ragway import filters  # noqa: E402
from ragway.auth import KeyStore, Role  # noqa: E402
from ragway.embedder import get_embedder  # noqa: E402
from ragway.freshness import WriteMarks  # noqa: E402
from ragway.ids import chunk_id, document_id  # noqa: E402
from ragway.kbs import KnowledgeBases  # noqa: E402
from ragway.records import (
    Chunk,  # noqa: E402
    Section,  # noqa: E402
)
from ragway.redis_client import connect  # noqa: E402
from ragway.retriever import Retriever  # noqa: E402
from ragway.settings import get_settings  # noqa: E402
from ragway.splitter import Splitter  # noqa: E402
from ragway.store import OUTPUT_FIELDS, ChunkStore  # noqa: E402

TENANT, KB = "bench", "load-10k"
TARGET_CHUNKS = 10_000


def ensure_kb(settings, store: ChunkStore, embedder) -> list[str]:
    """The 10k-chunk kb (built once) and query strings drawn from the same articles."""
    paras = paragraphs(8_000)
    queries = [" ".join(p["text"].split()[:12]) for p in random.Random(7).sample(paras, 500)]
    redis = connect(settings.effective_redis_url)
    if KB not in {kb.name for kb in KnowledgeBases(redis).list(TENANT)}:
        KnowledgeBases(redis).create(TENANT, KB, "bench/load.py: 10k Wikipedia chunks", created_by="bench")
    chunks: list[Chunk] = []
    splitter = Splitter(settings)
    for p in paras:
        source = f"{p['doc_id']}-{p['title']}.txt"
        did = document_id(TENANT, KB, source)
        for i, piece in enumerate(splitter.split([Section(p["text"])])):
            chunks.append(Chunk(chunk_id(TENANT, KB, did, len(chunks)), TENANT, KB, did, source, 0, len(chunks),
                                "0" * 64, piece.text, int(time.time() * 1000), {"chunk_count": 0, "para": i}))
        if len(chunks) >= TARGET_CHUNKS:
            break
    chunks = chunks[:TARGET_CHUNKS]
    have = store.count(TENANT, KB)
    if have >= TARGET_CHUNKS:
        print(f"kb {TENANT}/{KB}: {have} chunks (reused)", flush=True)
        if store.write_marks.guarantee_ts(store.collection, TENANT, KB) is None:
            chunks = chunks[:1]  # rewriting one chunk records the kb's write stamp (built before stamps)
        else:
            return queries
    else:
        print(f"building kb {TENANT}/{KB} with {TARGET_CHUNKS} chunks (once; ~4 min on 2 cores) ...", flush=True)
    for start in range(0, len(chunks), 512):
        batch = chunks[start:start + 512]
        for c, vector in zip(batch, embedder.embed([c.text for c in batch]), strict=True):
            c.embedding = vector
        store.upsert(batch)
        print(f"  {start + len(batch)}/{len(chunks)}", end="\r", flush=True)
    print()
    return queries


SCALE_CHUNKS = 100_000


def scale_kb(chunks: int) -> str:
    return f"load-{chunks // 1000}k" if chunks >= 1000 else f"load-{chunks}"


def articles(limit_chunks: int, splitter) -> list[tuple[str, str, list]]:
    """Wikipedia articles in file order, each its paragraphs joined, split into pieces, until
    `limit_chunks` pieces: (source, title, pieces)."""
    import gzip

    from bench.common import data_file
    from ragway.records import Section

    out, total, current = [], 0, None
    paras: list[str] = []

    def flush() -> None:
        nonlocal total
        if current is not None and paras:
            pieces = splitter.split([Section(text="\n\n".join(paras), page=0, title=current[1])])
            if pieces:
                out.append((f"{current[0]}-{current[1]}.txt", current[1], pieces))
                total += len(pieces)

    with gzip.open(data_file(), "rt", encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            if current is None or p["doc_id"] != current[0]:
                flush()
                if total >= limit_chunks:
                    break
                current, paras = (p["doc_id"], p["title"]), []
            paras.append(p["text"])
        else:
            flush()
    return out


def prepared_document(tenant: str, kb: str, source: str, title: str, pieces: list, suffix: str = ""):
    from ragway import ids
    from ragway.ingest import PreparedDocument

    text = "\n\n".join(p.text for p in pieces) + suffix
    return PreparedDocument(tenant, kb, source, ids.document_id(tenant, kb, source),
                            ids.content_hash(text.encode("utf-8")), pieces, job_id="bench-scale", title=title)


def bar(done: int, total: int, started: float) -> str:
    rate = done / max(time.monotonic() - started, 1e-9)
    filled = int(30 * done / max(total, 1))
    eta = (total - done) / rate / 60 if rate > 0 else float("nan")
    return f"[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} chunks, {rate:.0f}/s, ETA {eta:.1f} min"


def ensure_scale_kb(settings, store: ChunkStore, embedder, target: int = SCALE_CHUNKS,
                    batch_docs: int = 32) -> tuple[str, list[tuple[str, str, list]]]:
    """The 100k-chunk kb, built once with the service's own ingestor in this process (articles of
    wikipedia-en-2015, one document each, until `target` chunks), resumed where a run stopped."""
    from ragway.ingest import Ingestor

    kb = scale_kb(target)
    splitter = Splitter(settings)
    docs = articles(target, splitter)
    total = sum(len(p) for _, _, p in docs)
    redis = connect(settings.effective_redis_url)
    if kb not in {kb.name for kb in KnowledgeBases(redis).list(TENANT)}:
        KnowledgeBases(redis).create(TENANT, kb, f"bench/load.py --scale: ~{target:,} Wikipedia chunks",
                                     created_by="bench")
    have = store.count(TENANT, kb)
    if have >= total:
        print(f"kb {TENANT}/{kb}: {have:,} chunks in {len(docs):,} articles (reused)", flush=True)
        return kb, docs
    print(f"building kb {TENANT}/{kb}: {total:,} chunks in {len(docs):,} articles "
          f"(once; ~30 min on 2 cores; run it under nice -n 10; resumable) ...", flush=True)
    ingestor = Ingestor(splitter, embedder, store)
    started, done, todo = time.monotonic(), 0, []
    for source, title, pieces in docs:
        doc = prepared_document(TENANT, kb, source, title, pieces)
        if have:  # resuming: skip what a previous run stored completely
            stored = store.stored_version(TENANT, doc.doc_id)
            if stored is not None and stored.complete and stored.content_hash == doc.content_hash:
                total -= len(pieces)
                continue
        todo.append(doc)
    for start in range(0, len(todo), batch_docs):
        batch = todo[start:start + batch_docs]
        ingestor.write(batch)
        done += sum(len(d.pieces) for d in batch)
        print(bar(done, total, started), end="\r", flush=True)
    print(f"\n{done:,} chunks in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return kb, docs


class NotReplayable(SystemExit):
    """A read the raw baseline cannot replay through plain pymilvus searches and queries."""

    def __init__(self, call: str):
        super().__init__(f"the default mode reads Milvus through ChunkStore.{call} (the server's own BM25, "
                         "Milvus >= 2.5): the raw baseline replays dense searches and reads by id only; run the "
                         "latency comparison with RAGWAY_LEXICAL_BACKEND=memory or on the local Milvus 2.3.5")


class RecordingStore:
    """The service's store, recording the Milvus reads a retrieval makes: search limits and which query
    vectors (`main`, or `across`: the paired multilingual model's, retriever.QueryVectors), fetched ids."""

    def __init__(self, store: ChunkStore, main_dim: int):
        self._store = store
        self.main_dim = main_dim
        self.calls: list[tuple] = []

    def _kind(self, vector) -> str:
        return "main" if any(vector[: self.main_dim]) else "across"

    def __getattr__(self, name):
        return getattr(self._store, name)

    def search(self, tenant, kb, vector, top_k, extra_filter=""):
        self.calls.append(("search", top_k, [self._kind(vector)]))
        return self._store.search(tenant, kb, vector, top_k, extra_filter=extra_filter)

    def search_many(self, tenant, kb, vectors, top_k, extra_filter=""):
        self.calls.append(("search", top_k, [self._kind(v) for v in vectors]))
        return self._store.search_many(tenant, kb, vectors, top_k, extra_filter=extra_filter)

    def search_text(self, *args, **kwargs):
        raise NotReplayable("search_text")

    def hybrid_search_native(self, *args, **kwargs):
        raise NotReplayable("hybrid_search_native")

    def fetch_hits(self, tenant, kb, chunk_ids, with_vectors=False, extra_filter=""):
        if chunk_ids:
            self.calls.append(("fetch", list(chunk_ids), with_vectors))
        return self._store.fetch_hits(tenant, kb, chunk_ids, with_vectors=with_vectors, extra_filter=extra_filter)


def default_mode_reads(settings, store: ChunkStore, embedder, queries: list[str]) -> list[list[tuple]]:
    """Per query, the Milvus reads the gateway's default mode makes for it (found by running the
    service's Retriever here, untimed), so the raw baseline replays the same Milvus searches."""
    recorder = RecordingStore(store, getattr(embedder, "main", embedder).dim)
    retriever = Retriever(settings, embedder, recorder)
    plans = []
    for q in queries:
        recorder.calls = []
        retriever.retrieve(TENANT, KB, q, settings.top_k, settings.retrieval_mode)
        plans.append(recorder.calls)
    return plans


def raw_reads(settings, store: ChunkStore, vectors: dict[str, list[float]], calls: list[tuple],
              consistency: dict) -> None:
    """One query's Milvus reads through plain pymilvus, the hits decoded as any caller does."""
    kb_filter = store.kb_filter(TENANT, KB)
    for call in calls:
        if call[0] == "search":
            data = [vectors[kind] for kind in call[2]]
            result = store.client.search(settings.collection, data=data, limit=call[1], anns_field="embedding",
                                         filter=kb_filter, output_fields=OUTPUT_FIELDS,
                                         search_params={"metric_type": store.metric,
                                                        "params": {"ef": max(settings.search_ef, call[1])}},
                                         **consistency)
            [(hit["distance"], dict(hit["entity"])) for hits in result for hit in hits]
        else:
            ids_expr = "chunk_id in [" + ", ".join(filters.quote(c) for c in call[1]) + "]"
            fields = [*OUTPUT_FIELDS, "embedding"] if call[2] else OUTPUT_FIELDS
            rows = store.client.query(settings.collection, filter=store.kb_filter(TENANT, KB, ids_expr),
                                      output_fields=fields, **consistency)
            [dict(r) for r in rows]


def raw_baseline(settings, store: ChunkStore, embedder, queries: list[str], seconds: float,
                 first: int = 0, plans: list[list[tuple]] | None = None) -> tuple[list[float], int]:
    """Query embedding + pymilvus reads, serial: the default mode's own reads (`plans`), or one
    dense top_k search (`plans` None)."""
    consistency = store.consistency_for(TENANT, KB)  # the gateway's, read once
    latencies, errors, deadline = [], 0, time.monotonic() + seconds
    i = first
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            query = queries[i % len(queries)]
            calls = plans[i % len(queries)] if plans is not None else [("search", settings.top_k, ["main"])]
            vectors = {"main": embedder.embed_query(query)}
            if any("across" in call[2] for call in calls if call[0] == "search"):  # the service embeds it too
                vectors["across"] = embedder.embed_query_across(query)
            raw_reads(settings, store, vectors, calls, consistency)
            latencies.append(time.perf_counter() - start)
        except Exception:  # counted, not fatal: the table reports errors
            errors += 1
        i += 1
    return latencies, errors


async def drive(url: str, token: str, clients: int, seconds: float, body_of,
                timings: list[str] | None = None) -> tuple[list[float], int]:
    """`clients` concurrent request loops for `seconds`; GET when `body_of` is None. aiohttp, not
    httpx: the client shares the gateway's 2 cores, and its own cost per request is counted in the
    latencies (GET /healthz: aiohttp 1.5 ms, httpx 2.8 ms here)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}, connector=connector,
                                     timeout=timeout) as http:
        async def one_client(seed: int) -> None:
            nonlocal errors
            n = seed
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    request = http.get(url) if body_of is None else http.post(url, json=body_of(n))
                    async with request as resp:
                        await resp.read()
                        if resp.status == 200:
                            latencies.append(time.perf_counter() - start)
                            if timings is not None:
                                timings.append(resp.headers.get("server-timing", ""))
                        else:
                            errors += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                n += clients
        await asyncio.gather(*(one_client(i) for i in range(clients)))
    return latencies, errors


def search_body(queries: list[str]):
    return lambda n: {"kb": KB, "query": queries[n % len(queries)], "top_k": 5}


def one_client_rounds(s, store: ChunkStore, embedder, token: str, queries: list[str], seconds: float,
                      rounds: int) -> list[dict]:
    """Raw and gateway at one client, alternating in `rounds` slices of the run time with the same
    queries, so a drift of the machine (Milvus compaction, another process) hits both alike. Two raw
    baselines: the default mode's own Milvus reads (the ratio's baseline) and one dense top_k search
    (what a bare vector search costs). Also the HTTP floor: GET /healthz, no auth, no I/O."""
    plans = default_mode_reads(s, store, embedder, queries)
    fetches = sum(any(c[0] == "fetch" for c in p) for p in plans)
    limits = sorted({c[1] for p in plans for c in p if c[0] == "search"})
    searches = sum(c[0] == "search" for p in plans for c in p)
    across = sum(any(c[0] == "search" and "across" in c[2] for c in p) for p in plans)
    print(f"default mode {s.retrieval_mode}: {searches} dense search requests for {len(plans)} queries (limit "
          f"{', '.join(map(str, limits)) or '-'}; {across} queries also embedded by the paired multilingual model, "
          f"the kb holds CJK chunks); {fetches} queries also fetch chunks by id", flush=True)
    raw, dense, gateway, floor = [], [], [], []
    errs = [0, 0, 0, 0]
    timings: list[str] = []
    ratios = []
    slice_s = seconds / rounds
    for r in range(rounds):
        first = r * 1000
        lat, err = raw_baseline(s, store, embedder, queries, slice_s, first, plans)
        raw += lat
        errs[0] += err
        dlat, err = raw_baseline(s, store, embedder, queries, slice_s / 2, first)
        dense += dlat
        errs[1] += err
        glat, err = asyncio.run(drive(f"{s.gateway_url}/v1/search", token, 1, slice_s,
                                      lambda n, first=first: search_body(queries)(n + first), timings))
        gateway += glat
        errs[2] += err
        ratios.append(statistics.median(glat) / statistics.median(lat) if lat and glat else float("nan"))
        flat, err = asyncio.run(drive(f"{s.gateway_url}/healthz", token, 1, min(slice_s, 3.0), None))
        floor += flat
        errs[3] += err
        print(f"  round {r + 1}/{rounds}: raw p50 {statistics.median(lat) * 1000:.1f} ms, gateway p50 "
              f"{statistics.median(glat) * 1000:.1f} ms ({ratios[-1]:.2f}x)", flush=True)
    rows = [summarize(f"raw: embed + the {s.retrieval_mode} mode's Milvus reads", 1, raw, errs[0], seconds),
            summarize(f"raw: embed + one dense top-{s.top_k} search", 1, dense, errs[1], seconds / 2),
            summarize(f"gateway /v1/search ({s.retrieval_mode})", 1, gateway, errs[2], seconds),
            summarize("gateway GET /healthz (HTTP floor)", 1, floor, errs[3], min(slice_s, 3.0) * rounds)]
    rows[2]["round_ratios"] = [round(x, 2) for x in ratios]
    rows[2]["server_phases_p50_ms"] = phase_medians(timings)
    return rows


def phase_medians(headers: list[str]) -> dict[str, float]:
    """Median per phase of the gateway's Server-Timing headers (ragway/timing.py)."""
    values: dict[str, list[float]] = {}
    for header in headers:
        for part in filter(None, (p.strip() for p in header.split(","))):
            name, _, dur = part.partition(";dur=")
            values.setdefault(name, []).append(float(dur))
    return {name: round(statistics.median(v), 2) for name, v in values.items()}


def summarize(name: str, clients: int, latencies: list[float], errors: int, seconds: float) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) >= 2 else ms * 99 or [0.0] * 99
    return {"run": name, "clients": clients, "requests": len(ms), "errors": errors,
            "rps": round(len(ms) / seconds, 1), "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1),
            "p99_ms": round(q[98], 1)}


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), MB."""
    with open(f"/proc/{pid or 'self'}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def gateway_pid(s) -> int | None:
    """The process listening on the gateway's port (its RSS is the BM25 index's memory per gateway)."""
    import psutil

    port = int(s.gateway_url.rsplit(":", 1)[1].split("/")[0])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def index_bytes(index) -> int:
    """A measured size of one in-process BM25 index: its sparse matrix arrays, vocabulary and chunk ids."""
    bm25 = index._bm25
    arrays = sum(a.nbytes for a in bm25.scores.values() if hasattr(a, "nbytes"))
    vocab = sys.getsizeof(bm25.vocab_dict) + sum(sys.getsizeof(t) + 28 for t in bm25.vocab_dict)
    ids = sys.getsizeof(index.chunk_ids) + sum(sys.getsizeof(c) for c in index.chunk_ids)
    return arrays + vocab + ids


def scale_search(s, token: str, kb: str, query: str, mode: str) -> tuple[float, list[dict]]:
    """One /v1/search at top_k 5: (seconds, hits)."""
    async def one() -> tuple[float, list[dict]]:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"},
                                         timeout=aiohttp.ClientTimeout(total=600)) as http:
            start = time.perf_counter()
            async with http.post(f"{s.gateway_url}/v1/search",
                                 json={"kb": kb, "query": query, "top_k": 5, "mode": mode}) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"/v1/search {mode}: HTTP {resp.status} {body}")
            return time.perf_counter() - start, body["hits"]
    return asyncio.run(one())


def dense_vs_hybrid(s, token: str, kb: str, queries: list[str], rounds: int) -> dict[str, list[float]]:
    """Warm dense and hybrid through the gateway at one client, alternating query by query (same
    queries, same moment of the machine)."""
    out: dict[str, list[float]] = {"dense": [], "hybrid": [], "errors": []}
    for r in range(rounds):
        for q in queries:
            for mode in ("dense", "hybrid"):
                try:
                    out[mode].append(scale_search(s, token, kb, q, mode)[0])
                except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:  # counted, not fatal
                    out["errors"].append(f"{mode}: {exc}")
        print(f"  round {r + 1}/{rounds}: dense p50 {statistics.median(out['dense']) * 1000:.1f} ms, hybrid p50 "
              f"{statistics.median(out['hybrid']) * 1000:.1f} ms", flush=True)
    return out


def rebuild_after_one_change(s, store: ChunkStore, embedder, token: str, kb: str, docs,
                             gateway_pid: int | None) -> dict:
    """Change one document (one sentence with a new word appended to its last chunk), then search
    hybrid at one client until BM25 finds the new word: how long searches take meanwhile (none may
    wait for the rebuild) and how long until the gateway's new index is in use. The document is put
    back as it was afterwards (that costs one more rebuild, not measured)."""
    from ragway.ingest import Ingestor

    source, title, pieces = docs[len(docs) // 2]
    word = f"zq{random.randrange(10**9):09d}x"
    changed = [*pieces[:-1], replace(pieces[-1], text=f"{pieces[-1].text} Marker {word}.")]
    ingestor = Ingestor(Splitter(s), embedder, store)
    peak = rss_mb(gateway_pid) if gateway_pid else 0.0
    ingestor.write([prepared_document(TENANT, kb, source, title, changed, suffix=word)])
    changed_at = time.perf_counter()
    during: list[float] = []
    found_after = None
    while time.perf_counter() - changed_at < 600:
        seconds, hits = scale_search(s, token, kb, word, "bm25")
        during.append(seconds)
        if gateway_pid:
            peak = max(peak, rss_mb(gateway_pid))
        if any(word in h["text"] for h in hits):
            found_after = time.perf_counter() - changed_at
            break
        during.append(scale_search(s, token, kb, f"{title} {word}", "hybrid")[0])
    ingestor.write([prepared_document(TENANT, kb, source, title, pieces)])
    return {"searches_during": len(during), "p50_during_ms": round(statistics.median(during) * 1000, 1),
            "max_during_ms": round(max(during) * 1000, 1), "searchable_after_s": found_after,
            "gateway_rss_peak_mb": round(peak, 1)}


def in_process_index(s, store: ChunkStore, embedder, kb: str) -> dict:
    """The kb's BM25 index built in this process with the gateway's code: build time, RSS delta
    and the measured size of the index."""
    import gc

    from ragway.lexical import Bm25Index

    retriever = Retriever(s, embedder, store)
    Bm25Index(["x"], ["tokenizer warm-up 年假"], retriever.tokenizer)  # bm25s, the stemmer and jieba loaded
    started = time.perf_counter()
    store.kb_fingerprint(TENANT, kb)  # what a search pays every bm25_check_interval_s
    fingerprint_ms = (time.perf_counter() - started) * 1000
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = retriever.bm25_index(TENANT, kb)
    seconds = time.perf_counter() - started
    gc.collect()
    return {"chunks": len(index), "build_s": round(seconds, 1), "rss_delta_mb": round(rss_mb() - before, 1),
            "index_mb": round(index_bytes(index) / 2**20, 1), "fingerprint_ms": round(fingerprint_ms, 1)}


def run_scale(args, s, store: ChunkStore, embedder) -> None:
    """--scale: the 100k-chunk kb, dense against hybrid (in-process BM25 on Milvus 2.3.5)."""
    kb, docs = ensure_scale_kb(s, store, embedder, args.chunks)
    if args.ingest_only:
        return
    pieces = [p.text for _, _, ps in docs for p in ps]
    queries = [" ".join(t.split()[:12]) for t in random.Random(7).sample(pieces, args.queries)]
    _, token = KeyStore(connect(s.effective_redis_url)).create(TENANT, Role.reader, "bench/load.py --scale",
                                                               requests_per_minute=10**9)
    pid = gateway_pid(s)
    # Warm-up: the embedder, and BM25's libraries (bm25s, stemmer, jieba) on a tiny kb, so the RSS delta
    # of the first search of `kb` is its index.
    tiny, _ = ensure_scale_kb(s, store, embedder, 150)
    scale_search(s, token, tiny, "年假 warm-up of the embedder and the tokenizer", "hybrid")
    rss_before = rss_mb(pid) if pid else float("nan")
    cold, _ = scale_search(s, token, kb, queries[0], "hybrid")
    rss_cold = rss_mb(pid) if pid else float("nan")
    print(f"gateway: first hybrid search of {kb} {cold:.1f} s, RSS {rss_before:.0f} -> {rss_cold:.0f} MB",
          flush=True)
    warm = dense_vs_hybrid(s, token, kb, queries, args.rounds)
    rebuild = rebuild_after_one_change(s, store, embedder, token, kb, docs, pid)
    print(f"after one document changed: {rebuild}", flush=True)
    local = in_process_index(s, store, embedder, kb)
    print(f"the same index built in this process: {local}", flush=True)

    errors = {m: sum(e.startswith(m) for e in warm["errors"]) for m in ("dense", "hybrid")}
    dense, hybrid = (summarize(f"gateway /v1/search {m}", 1, warm[m], errors[m], 1) for m in ("dense", "hybrid"))
    ratio = hybrid["p50_ms"] / dense["p50_ms"]
    rows = [
        ("chunks in the kb (articles)", f"{local['chunks']:,} ({len(docs):,})"),
        ("dense p50 / p95 ms (warm, 1 client)", f"{dense['p50_ms']} / {dense['p95_ms']}"),
        ("hybrid cold: first search of the kb after start, s", f"{cold:.1f}"),
        ("hybrid warm p50 / p95 ms (1 client)", f"{hybrid['p50_ms']} / {hybrid['p95_ms']}"),
        ("warm hybrid p50 / dense p50 (target <= 1.5)", f"{ratio:.2f}x"),
        ("warm searches: dense, hybrid (errors)", f"{dense['requests']} ({errors['dense']}), "
                                                  f"{hybrid['requests']} ({errors['hybrid']})"),
        ("BM25 index, gateway RSS delta at the cold search, MB", f"{rss_cold - rss_before:.0f}"),
        ("BM25 index, RSS delta / measured size (this process), MB",
         f"{local['rss_delta_mb']:.0f} / {local['index_mb']:.0f}"),
        ("BM25 index build (this process), s", f"{local['build_s']}"),
        (f"kb fingerprint read (a search pays it every {s.bm25_check_interval_s:g} s), ms",
         f"{local['fingerprint_ms']}"),
        ("one document changed: searchable by BM25 after, s", f"{rebuild['searchable_after_s']:.1f}"
         if rebuild["searchable_after_s"] is not None else "not within 600 s"),
        ("searches during the rebuild: n, p50 / max ms",
         f"{rebuild['searches_during']}, {rebuild['p50_during_ms']} / {rebuild['max_during_ms']}"),
        ("gateway RSS peak during the rebuild, MB", f"{rebuild['gateway_rss_peak_mb']:.0f}"),
    ]
    print(f"\n{len(queries)} queries x {args.rounds} rounds per mode, top_k 5, lexical backend: in-process BM25 "
          f"(Milvus {store.server_version})\n\n| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": dict(rows), "dense": dense, "hybrid": hybrid,
                                         "rebuild": rebuild, "in_process": local}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="per search run (default 20)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="raw and 1-client gateway alternate in this many slices of --seconds")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels for /v1/search")
    parser.add_argument("--chat-seconds", type=float, default=20, help="per chat run; 0 skips chat")
    parser.add_argument("--chat-clients", default="1,4")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--scale", action="store_true",
                        help="the 100k-chunk kb instead: dense vs hybrid, BM25 index memory and rebuild time")
    parser.add_argument("--ingest-only", action="store_true", help="with --scale: build the 100k kb and stop")
    parser.add_argument("--queries", type=int, default=200, help="with --scale: queries per mode")
    parser.add_argument("--chunks", type=int, default=SCALE_CHUNKS, help="with --scale: kb size (default 100k)")
    args = parser.parse_args()
    s = get_settings()
    embedder = get_embedder(s)
    marks = WriteMarks(connect(s.effective_redis_url), s.strong_after_delete_s)
    store = ChunkStore(s, dim=embedder.dim, write_marks=marks)
    store.ensure_collection()
    if args.scale:
        run_scale(args, s, store, embedder)
        return
    queries = ensure_kb(s, store, embedder)
    print(f"search consistency: {s.search_consistency} -> {store.consistency_for(TENANT, KB)}", flush=True)
    _, token = KeyStore(connect(s.effective_redis_url)).create(TENANT, Role.reader, "bench/load.py",
                                                    requests_per_minute=10**9)

    rows = one_client_rounds(s, store, embedder, token, queries, args.seconds, args.rounds)
    for clients in (int(c) for c in args.clients.split(",") if int(c) > 1):
        lat, err = asyncio.run(drive(f"{s.gateway_url}/v1/search", token, clients, args.seconds,
                                     search_body(queries)))
        rows.append(summarize("gateway /v1/search", clients, lat, err, args.seconds))
        print(f"  {rows[-1]}", flush=True)
    if args.chat_seconds > 0:
        for clients in (int(c) for c in args.chat_clients.split(",")):
            def chat_body(n: int) -> dict:
                question = f"What does this say: {queries[n % len(queries)]}?"
                return {"model": f"kb:{KB}", "messages": [{"role": "user", "content": question}], "max_tokens": 32}
            lat, err = asyncio.run(drive(f"{s.gateway_url}/v1/chat/completions", token, clients, args.chat_seconds,
                                         chat_body))
            rows.append(summarize("gateway /v1/chat/completions", clients, lat, err, args.chat_seconds))
            print(f"  {rows[-1]}", flush=True)

    raw_p50 = rows[0]["p50_ms"]
    print(f"\n1 client, gateway p50 / raw p50 per round: {rows[2]['round_ratios']} "
          f"(median {statistics.median(rows[2]['round_ratios']):.2f}x)")
    print(f"1 client, gateway's own phases (Server-Timing, p50 ms): {rows[2]['server_phases_p50_ms']}")
    print("\n| run | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | p50 vs raw |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['clients']} | {r['requests']} | {r['errors']} | {r['rps']} | {r['p50_ms']} | "
              f"{r['p95_ms']} | {r['p99_ms']} | {r['p50_ms'] / raw_p50:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
