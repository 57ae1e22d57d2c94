"""Ingest throughput, side by side in one run, as ratios to raw encoding.

    .venv/bin/python bench/ingest.py [--n 2000]

On the first N paragraphs of wikipedia-en-2015/paragraphs.jsonl.gz (from RAGWAY_DATA_DIR,
default ../shared/data), one after the other on the same machine and Milvus server:

  raw        SentenceTransformer.encode of the chunks (batch 32, PyTorch), first and again last: the
             faster run is the limit, 1.00x
  raw-onnx   the same with the ONNX int8 backend, when Ragway runs with RAGWAY_EMBEDDING_BACKEND=onnx-int8
  seed       LangChain splitter + HuggingFaceEmbeddings + langchain-milvus Milvus.from_documents
  ragway     files (one per article) through the gateway, Celery workers and Milvus, end to end
  re-ingest  the same unchanged files again (skipped by content hash)

Needs the local stack (`ragway stack up`). Prints a table; writes JSON next to it with --json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import paragraphs  # noqa: E402
from ragway.auth import KeyStore, Role  # noqa: E402
from ragway.client import GatewayClient  # noqa: E402
from ragway.embedder import bundled_model_dir, ensure_embedding_model, onnx_file_name  # noqa: E402
from ragway.redis_client import connect  # noqa: E402
from ragway.settings import Settings, get_settings  # noqa: E402


def seed_chunks(paras: list[dict], size: int, overlap: int):
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    return splitter.split_documents([Document(p["text"], metadata={"title": p["title"]}) for p in paras])


def bench_raw(texts: list[str], backend: str) -> float:
    from sentence_transformers import SentenceTransformer

    if backend == "torch":
        model = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    else:
        folder = ensure_embedding_model(Settings(embedding_backend=backend))
        model = SentenceTransformer(str(folder), device="cpu", backend="onnx",
                                    model_kwargs={"file_name": onnx_file_name()})
    model.encode(texts[:64], batch_size=32)  # warm-up
    start = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True)
    return time.perf_counter() - start


def bench_seed(docs, uri: str) -> float:
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_milvus import Milvus
    from pymilvus import MilvusClient

    embeddings = HuggingFaceEmbeddings(model_name=str(bundled_model_dir()), encode_kwargs={"batch_size": 32})
    embeddings.embed_documents(["warm-up"])
    name = f"bench_seed_{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    Milvus.from_documents(docs, embeddings, collection_name=name, connection_args={"uri": uri})
    elapsed = time.perf_counter() - start
    MilvusClient(uri=uri).drop_collection(name)
    return elapsed


def write_articles(paras: list[dict], folder: Path) -> list[Path]:
    articles: OrderedDict[str, list[str]] = OrderedDict()
    for p in paras:
        articles.setdefault(f"{p['doc_id']}-{p['title']}", []).append(p["text"])
    paths = []
    for key, texts in articles.items():
        path = folder / (key.replace("/", "_")[:100] + ".txt")
        path.write_text("\n\n".join(texts), encoding="utf-8")
        paths.append(path)
    return paths


def run_job(client: GatewayClient, kb: str, paths: list[Path]) -> tuple[float, dict]:
    start = time.perf_counter()
    job_id = client.open_job(kb)["job_id"]
    for i in range(0, len(paths), 50):
        client.add_files(job_id, paths[i:i + 50])
    client.seal(job_id)
    while True:
        job = client.job(job_id, files=False)
        if job["status"] in ("done", "failed", "cancelled"):
            return time.perf_counter() - start, job
        time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="paragraphs (default 2000)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    s = get_settings()
    paras = paragraphs(args.n)
    docs = seed_chunks(paras, s.chunk_size, s.chunk_overlap)
    texts = [d.page_content for d in docs]
    print(f"{len(paras)} paragraphs, {len(texts)} chunks ({s.chunk_size}/{s.chunk_overlap})", flush=True)

    # Raw encoding runs first and again last; the faster run is the limit, so background work on the
    # shared cores (Milvus building an index, say) during one of them does not flatter the pipelines.
    backends = ["torch"] + ([s.embedding_backend] if s.embedding_backend != "torch" else [])
    raw_times = {backend: [bench_raw(texts, backend)] for backend in backends}
    print(f"  raw done in {', '.join(f'{b} {t[0]:.1f}s' for b, t in raw_times.items())}", flush=True)
    rows = []
    t = bench_seed(docs, s.milvus_uri)
    rows.append(("seed: splitter + HuggingFaceEmbeddings + Milvus.from_documents", len(texts), t))
    print(f"  seed done in {t:.1f}s", flush=True)

    _, token = KeyStore(connect(s.effective_redis_url)).create(s.default_tenant, Role.admin, "bench/ingest.py")
    client = GatewayClient(s.gateway_url, api_key=token)
    kb = f"bench-{uuid.uuid4().hex[:8]}"
    client.create_kb(kb, "bench/ingest.py (deleted at the end)")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_articles(paras, Path(tmp))
        t, job = run_job(client, kb, paths)
        assert job["status"] == "done" and job["counts"]["failed"] == 0, job
        rows.append((f"ragway end to end ({len(paths)} files, {s.embedding_backend})", job["chunks"], t))
        print(f"  ragway done in {t:.1f}s", flush=True)
        t2, job2 = run_job(client, kb, paths)
        assert job2["counts"]["skipped"] == len(paths), job2["counts"]
        rows.append(("ragway re-ingest, unchanged files", job["chunks"], t2))
    client.delete_kb(kb)
    for backend in backends:
        raw_times[backend].append(bench_raw(texts, backend))
        print(f"  raw {backend} again in {raw_times[backend][-1]:.1f}s", flush=True)
    rows[:0] = [(f"raw SentenceTransformer.encode ({b}; best of {', '.join(f'{x:.0f}' for x in t)} s)",
                 len(texts), min(t)) for b, t in raw_times.items()]

    raw_rate = rows[0][1] / rows[0][2]
    print("\n| pipeline | chunks | seconds | chunks/s | vs raw |\n|---|---:|---:|---:|---:|")
    results = []
    for name, chunks, secs in rows:
        rate = chunks / secs
        results.append({"pipeline": name, "chunks": chunks, "seconds": round(secs, 2), "chunks_per_s": round(rate, 1),
                        "vs_raw": round(rate / raw_rate, 3)})
        print(f"| {name} | {chunks} | {secs:.1f} | {rate:.1f} | {rate / raw_rate:.2f}x |")
    raw_same, seed, ragway, again = results[len(backends) - 1], results[-3], results[-2], results[-1]
    print(f"\nragway vs raw with its own backend: {ragway['chunks_per_s'] / raw_same['chunks_per_s']:.2f}x; "
          f"ragway vs seed: {ragway['chunks_per_s'] / seed['chunks_per_s']:.2f}x; "
          f"re-ingest speed-up over first ingest: {ragway['seconds'] / again['seconds']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
