"""Gateway load, side by side with the raw baseline, in one run.

    .venv/bin/python bench/load.py [--seconds 20] [--rounds 4] [--clients 1,8,32] [--chat-seconds 20]

Against a knowledge base of 10k chunks (Wikipedia paragraphs from RAGWAY_DATA_DIR, embedded and
stored once, then reused by later runs):

  raw          query embedding + pymilvus search (same filter, consistency and output fields as the
               gateway's hits carry; the hits are read), one process, serial;
               the gateway reads the kb's write stamp per request (ragway/freshness.py), raw once
  /v1/search   1, 8 and 32 concurrent clients through the gateway, each for a fixed time; the
               1-client run alternates with raw in --rounds slices (same queries), and the ratio
               is reported per round; GET /healthz at 1 client shows the bare HTTP cost
  /v1/chat     a shorter run of /v1/chat/completions on the kb model (1 and 4 clients)

Reports p50 / p95 / p99 latency, requests/s and errors. The clients run on the same 2 cores as
the gateway, Milvus and the LLM, so absolute numbers understate a real deployment; the ratio of
gateway to raw at one client is the figure to watch. Needs the local stack (`ragway stack up`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import aiohttp  # noqa: E402

from bench.common import paragraphs  # noqa: E402
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


def raw_baseline(settings, store: ChunkStore, embedder, queries: list[str], seconds: float,
                 first: int = 0) -> tuple[list[float], int]:
    consistency = store.consistency_for(TENANT, KB)  # the gateway's, read once
    latencies, errors, deadline = [], 0, time.monotonic() + seconds
    i = first
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            vector = embedder.embed_query(queries[i % len(queries)])
            result = store.client.search(settings.collection, data=[vector], limit=5, anns_field="embedding",
                                         filter=f'tenant == "{TENANT}" and kb == "{KB}"', output_fields=OUTPUT_FIELDS,
                                         search_params={"metric_type": "COSINE", "params": {"ef": settings.search_ef}},
                                         **consistency)
            # pymilvus decodes a result lazily: read the hits, as any caller of a search does.
            [(hit["distance"], dict(hit["entity"])) for hit in result[0]]
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
    queries, so a drift of the machine (Milvus compaction, another process) hits both alike.
    Also the HTTP floor: GET /healthz, no auth, no I/O."""
    raw, gateway, floor, raw_err, gw_err, floor_err = [], [], [], 0, 0, 0
    timings: list[str] = []
    ratios = []
    slice_s = seconds / rounds
    for r in range(rounds):
        first = r * 1000
        lat, err = raw_baseline(s, store, embedder, queries, slice_s, first)
        raw += lat
        raw_err += err
        glat, gerr = asyncio.run(drive(f"{s.gateway_url}/v1/search", token, 1, slice_s,
                                       lambda n, first=first: search_body(queries)(n + first), timings))
        gateway += glat
        gw_err += gerr
        ratios.append(statistics.median(glat) / statistics.median(lat) if lat and glat else float("nan"))
        flat, ferr = asyncio.run(drive(f"{s.gateway_url}/healthz", token, 1, min(slice_s, 3.0), None))
        floor += flat
        floor_err += ferr
        print(f"  round {r + 1}/{rounds}: raw p50 {statistics.median(lat) * 1000:.1f} ms, gateway p50 "
              f"{statistics.median(glat) * 1000:.1f} ms ({ratios[-1]:.2f}x)", flush=True)
    rows = [summarize("raw: embed + pymilvus search", 1, raw, raw_err, seconds),
            summarize("gateway /v1/search", 1, gateway, gw_err, seconds),
            summarize("gateway GET /healthz (HTTP floor)", 1, floor, floor_err, min(slice_s, 3.0) * rounds)]
    rows[1]["round_ratios"] = [round(x, 2) for x in ratios]
    rows[1]["server_phases_p50_ms"] = phase_medians(timings)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="per search run (default 20)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="raw and 1-client gateway alternate in this many slices of --seconds")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels for /v1/search")
    parser.add_argument("--chat-seconds", type=float, default=20, help="per chat run; 0 skips chat")
    parser.add_argument("--chat-clients", default="1,4")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    s = get_settings()
    embedder = get_embedder(s)
    marks = WriteMarks(connect(s.effective_redis_url), s.strong_after_delete_s)
    store = ChunkStore(s, dim=embedder.dim, write_marks=marks)
    store.ensure_collection()
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
    print(f"\n1 client, gateway p50 / raw p50 per round: {rows[1]['round_ratios']} "
          f"(median {statistics.median(rows[1]['round_ratios']):.2f}x)")
    print(f"1 client, gateway's own phases (Server-Timing, p50 ms): {rows[1]['server_phases_p50_ms']}")
    print("\n| run | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | p50 vs raw |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['clients']} | {r['requests']} | {r['errors']} | {r['rps']} | {r['p50_ms']} | "
              f"{r['p95_ms']} | {r['p99_ms']} | {r['p50_ms'] / raw_p50:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
