"""Ingest throughput, side by side in one run, as ratios to raw encoding.

    .venv/bin/python bench/ingest.py [--n 2000]          # text paragraphs (--no-torch: raw onnx only)
    .venv/bin/python bench/ingest.py --corpus            # the real files of docs/

Paragraphs: the first N of wikipedia-en-2015/paragraphs.jsonl.gz (from RAGWAY_DATA_DIR, default
../shared/data), one after the other on the same machine and Milvus server:

  raw        SentenceTransformer.encode of the chunks (batch 32, PyTorch), first and again last: the
             faster run is the limit, 1.00x
  raw-onnx   the same with the ONNX int8 backend, when Ragway runs with RAGWAY_EMBEDDING_BACKEND=onnx-int8
  seed       LangChain splitter + HuggingFaceEmbeddings + langchain-milvus Milvus.from_documents
  ragway     files (one per article) through the gateway, Celery workers and Milvus, end to end
  re-ingest  the same unchanged files again (skipped by content hash)

Corpus (--corpus): docs/ in three disjoint sets, each one job end to end, against raw encoding of
the very chunks Ragway stored (read back from Milvus, same backend, best of two):
  PDFs with a text layer   OCR off (their pages without one are left out); --raw-sample N times raw
                           encoding on a random N of each set's chunks, scaled to all
  other files              every non-PDF file that needs no OCR (broken ones fail, as in production)
  whole corpus without OCR the two together
  OCR set                  images and PDFs without any text layer, OCR on: page images per second
                           against the OCR engine alone on the same page images (rendered and sized
                           as ragway.ocr does), one after the other in this process (--ocr-pages caps it)

Ragway runs as a gateway and an ingest worker of this working tree started for the benchmark on a
queue and port of their own (the running stack's Redis and Milvus beneath, `ragway stack up`), so
other users' jobs do not mix in and OCR can be switched. Each job's worker seconds per phase (check:
is it stored already; parse without OCR; ocr; split; embed; write to Milvus) come from the workers
(`JobStore.seconds`). Prints tables; writes JSON with --json."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import data_root, paragraphs  # noqa: E402
from ragway.apps.client import GatewayClient, GatewayError  # noqa: E402
from ragway.auth import KeyStore, Role  # noqa: E402
from ragway.embedder import bundled_model_dir, ensure_embedding_model, onnx_file_name  # noqa: E402
from ragway.jobs import JobStore  # noqa: E402
from ragway.redis_client import connect  # noqa: E402
from ragway.settings import Settings, get_settings  # noqa: E402
from ragway.sources import walk  # noqa: E402


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


def run_job(client: GatewayClient, kb: str, paths: list[Path], names: list[str] | None = None) -> tuple[float, dict]:
    start = time.perf_counter()
    job_id = client.open_job(kb)["job_id"]
    for i in range(0, len(paths), 50):
        client.add_files(job_id, paths[i:i + 50], None if names is None else names[i:i + 50])
    client.seal(job_id)
    outage = 0.0
    while True:
        try:
            job = client.job(job_id, files=False)
        except GatewayError as exc:  # the shared stack's Redis or Milvus restarting: the job waits, so do we
            if not str(exc).startswith("503") or outage > 300:
                raise
            outage += 1.0
            time.sleep(1.0)
            continue
        if job["status"] in ("done", "failed", "cancelled"):
            return time.perf_counter() - start, job
        time.sleep(0.25)


class PrivateStack:
    """A gateway and an ingest worker of this working tree, started for the benchmark on a queue and
    port of their own (the shared stack's Redis and Milvus underneath): other users' jobs on the
    shared worker neither wait for nor skew these, and settings such as OCR can differ."""

    def __init__(self, settings: Settings, log_dir: Path, **env: str):
        self.s = settings
        self.port = _free_port()
        self.queue = f"bench.{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "RAGWAY_INGEST_QUEUE": self.queue, "RAGWAY_GATEWAY_PORT": str(self.port), **env}
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.worker_name = ""

    def __enter__(self) -> PrivateStack:
        self.start_gateway()
        self.start_worker()
        return self

    def __exit__(self, *_) -> None:
        for name in list(self.procs):
            self.stop(name)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)

    def start_gateway(self) -> None:
        self._spawn("gateway", [sys.executable, "-m", "uvicorn", "api.app:app", "--host", self.s.bind_host,
                                "--port", str(self.port), "--no-access-log"], self.env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the benchmark's gateway did not start: see {self.log_dir}/gateway.log")

    def start_worker(self, **env: str) -> None:
        self.worker_name = f"bench-{uuid.uuid4().hex[:6]}@%h"
        self._spawn("worker", [sys.executable, "-m", "celery", "-A", "ingest_worker.app", "worker",
                               "--loglevel", "INFO", "-Q", self.queue, "--concurrency",
                               str(self.s.worker_processes), "-n", self.worker_name], {**self.env, **env})

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    @property
    def url(self) -> str:
        return f"http://{self.s.bind_host}:{self.port}"

    def warm_up(self, client: GatewayClient, kb: str, files: list[tuple[Path, str]]) -> None:
        """One small job per worker process at once, so each loads its models before the clock runs."""
        jobs = []
        for i in range(self.s.worker_processes):
            job_id = client.open_job(kb)["job_id"]
            client.add_files(job_id, [f[0] for f in files], [f"warm-up-{i}/{f[1]}" for f in files])
            client.seal(job_id)
            jobs.append(job_id)
        deadline = time.monotonic() + 300
        while any(client.job(j, files=False)["status"] not in ("done", "failed", "cancelled") for j in jobs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the benchmark's worker did not take its warm-up jobs: see {self.log_dir}")
            time.sleep(0.25)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".heic")
PHASES = ["check", "parse", "ocr", "split", "embed", "write"]


@dataclass
class CorpusSet:
    name: str
    files: list[tuple[Path, str]] = field(default_factory=list)
    pages: int = 0  # pages with a text layer (pdf), or page images to OCR (ocr)
    kb: str = ""
    seconds: float = 0.0
    job: dict = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    raw: list[float] = field(default_factory=list)  # raw encoding (or OCR) seconds, each repeat
    chunks: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file: reason
    sample: list[str] = field(default_factory=list)  # the chunks raw encoding is timed on


def raw_sample(chunks: list[str], n: int) -> list[str]:
    """All the chunks, or a uniform random sample of n of them (fixed seed): raw encoding's chunks/s
    on a sample estimates it on all at a fraction of the time (the corpus holds ~33k chunks)."""
    import random

    return list(chunks) if not n or n >= len(chunks) else random.Random(18).sample(list(chunks), n)


def classify(docs: Path, ocr_pages: int) -> dict[str, CorpusSet]:
    """The corpus in three disjoint sets: PDFs with a text layer (any pages without one are left
    to OCR, which is off when they run), every other file that needs no OCR, and the images and
    PDFs with no text layer at all (up to `ocr_pages` page images; 0 = all)."""
    import pypdfium2 as pdfium

    from ragway.pdf import MIN_PAGE_CHARS

    sets = {name: CorpusSet(name) for name in ("pdf", "rest", "ocr")}
    for path, name in walk(docs, exclude=["MANIFEST.tsv", "README.md"]):
        target, pages = sets["rest"], 0
        if name.lower().endswith(IMAGE_SUFFIXES):
            target, pages = sets["ocr"], 1
        elif path.read_bytes()[:1024].lstrip().startswith(b"%PDF"):
            try:
                pdf = pdfium.PdfDocument(path.read_bytes())
            except pdfium.PdfiumError:
                pdf = None  # encrypted or corrupt: it fails fast among the rest
            if pdf is not None:
                texts = []
                for i in range(len(pdf)):
                    textpage = pdf[i].get_textpage()
                    texts.append(len(textpage.get_text_range().strip()) >= MIN_PAGE_CHARS)
                    textpage.close()
                pdf.close()
                target, pages = (sets["pdf"], sum(texts)) if any(texts) else (sets["ocr"], len(texts))
        if target is sets["ocr"] and ocr_pages and target.pages + pages > ocr_pages:
            continue
        target.files.append((path, name))
        target.pages += pages
    return sets


def kb_chunk_texts(s: Settings, kb: str) -> list[str]:
    """The text of every chunk Ragway stored in the kb: what it embedded."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=s.milvus_uri)
    expr = f'tenant == "{s.default_tenant}" && kb == "{kb}"'
    iterator = client.query_iterator(s.collection, filter=expr, output_fields=["text"], batch_size=1000)
    texts = []
    while batch := iterator.next():
        texts += [row["text"] for row in batch]
    iterator.close()
    return texts


def ocr_page_images(files: list[tuple[Path, str]]):
    """The images Ragway's OCR hands its engine for these files: image frames and PDF pages without a
    text layer, rendered and sized as `ragway.ocr` does."""
    import pypdfium2 as pdfium

    from ragway import ocr

    for path, _ in files:
        data = path.read_bytes()
        if data[:1024].lstrip().startswith(b"%PDF"):
            pdf = pdfium.PdfDocument(data)
            for i in range(len(pdf)):
                yield ocr._fit(ocr._render(pdf, i, ocr.DEFAULT_PDF_SCALE))
            pdf.close()
        else:
            try:
                frames = ocr._frames(data)
            except ocr.OcrError:
                continue
            for frame in frames:
                yield ocr._fit(frame)


def bench_raw_ocr(files: list[tuple[Path, str]]) -> float:
    """Seconds the engine itself takes on the page images, one after the other in this process."""
    from ragway import ocr

    engine = ocr.engine()
    total = 0.0
    for image in ocr_page_images(files):
        start = time.perf_counter()
        engine(image)
        total += time.perf_counter() - start
    return total


def corpus_job(stack: PrivateStack, client: GatewayClient, jobs: JobStore, cs: CorpusSet) -> None:
    cs.kb = f"bench-{cs.name}-{uuid.uuid4().hex[:6]}"
    client.create_kb(cs.kb, "bench/ingest.py --corpus (deleted at the end)")
    cs.seconds, cs.job = run_job(client, cs.kb, [f[0] for f in cs.files], [f[1] for f in cs.files])
    cs.phases = jobs.seconds(cs.job["job_id"])
    cs.failed = {f["name"]: f["error"] for f in client.job(cs.job["job_id"])["files"] if f["status"] == "failed"}
    print(f"  {cs.name}: {len(cs.files)} files, {cs.job['chunks']} chunks in {cs.seconds:.1f}s "
          f"({cs.job['counts']})", flush=True)


def warm_up_files(folder: Path, with_image: bool) -> list[tuple[Path, str]]:
    text = folder / "warm-up.txt"
    text.write_text("A warm-up file: the worker loads its embedding model before the clock runs.\n")
    files = [(text, "warm-up.txt")]
    if with_image:
        from PIL import Image, ImageDraw

        image = Image.new("L", (400, 80), 255)
        ImageDraw.Draw(image).text((10, 30), "Warm-up image 42", fill=0)
        image.save(folder / "warm-up.png")
        files.append((folder / "warm-up.png", "warm-up.png"))
    return files


def phase_cells(cs: CorpusSet) -> list[str]:
    """Worker seconds per phase (summed over the worker processes), parse without the OCR inside it."""
    ph = dict(cs.phases)
    ph["parse"] = ph.get("parse", 0.0) - ph.get("ocr", 0.0)
    return [f"{ph.get(name, 0.0):.1f}" for name in PHASES]


def run_corpus(args, s: Settings) -> list[dict]:
    docs = data_root() / "docs"
    if not docs.is_dir():
        sys.exit(f"{docs} is absent: set RAGWAY_DATA_DIR to the shared evaluation data")
    sets = classify(docs, args.ocr_pages)
    pdf, rest, ocr_set = sets["pdf"], sets["rest"], sets["ocr"]
    print(f"PDFs with a text layer: {len(pdf.files)} files, {pdf.pages} pages; other files without OCR: "
          f"{len(rest.files)}; OCR: {len(ocr_set.files)} files, {ocr_set.pages} page images", flush=True)
    _, token = KeyStore(connect(s.effective_redis_url)).create(s.default_tenant, Role.admin, "bench/ingest.py")
    jobs = JobStore.from_url(s.effective_redis_url)
    with tempfile.TemporaryDirectory() as tmp, PrivateStack(s, Path(tmp), RAGWAY_OCR_ENABLED="false") as stack:
        client = GatewayClient(stack.url, api_key=token)
        warm = f"bench-warm-{uuid.uuid4().hex[:6]}"
        client.create_kb(warm, "bench/ingest.py warm-up (deleted at the end)")
        try:
            stack.warm_up(client, warm, warm_up_files(Path(tmp), with_image=False))
            print(f"private gateway {stack.url}, worker on {stack.queue}, OCR off", flush=True)
            if not args.ocr_only:
                for cs in (pdf, rest):
                    corpus_job(stack, client, jobs, cs)
                    cs.chunks = kb_chunk_texts(s, cs.kb)
                    client.delete_kb(cs.kb)
            if ocr_set.files and not args.no_ocr:
                stack.stop("worker")
                stack.start_worker(RAGWAY_OCR_ENABLED="true")
                stack.warm_up(client, warm, warm_up_files(Path(tmp), with_image=True))
                print("worker restarted with OCR on", flush=True)
                corpus_job(stack, client, jobs, ocr_set)
                client.delete_kb(ocr_set.kb)
        finally:
            client.delete_kb(warm)
    # Raw encoding of the very chunks Ragway stored, twice (the faster run is the limit), with the
    # backend the workers use; then the OCR engine alone on the same page images.
    for cs in (pdf, rest):
        cs.sample = raw_sample(cs.chunks, args.raw_sample)
    for _ in range(0 if args.ocr_only else 2):
        for cs in (pdf, rest):
            seconds = bench_raw(cs.sample, s.embedding_backend) if cs.sample else 0.0
            cs.raw.append(seconds * len(cs.chunks) / max(len(cs.sample), 1))  # scaled to every chunk
        print(f"  raw encoding {', '.join(f'{cs.name} {cs.raw[-1]:.1f}s' for cs in (pdf, rest))}", flush=True)
    if ocr_set.kb:
        ocr_set.raw.append(bench_raw_ocr(ocr_set.files))
        print(f"  raw OCR {ocr_set.raw[-1]:.1f}s", flush=True)
    results = corpus_table(pdf, rest, ocr_set, s)
    failed = {**pdf.failed, **rest.failed, **ocr_set.failed}
    print(f"\n{len(failed)} files failed (as in production: OCR off for the first two sets, on for the third):")
    for name in sorted(failed):
        print(f"- {failed[name]}")
    return results + [{"failed": failed}]


def corpus_table(pdf: CorpusSet, rest: CorpusSet, ocr_set: CorpusSet, s: Settings) -> list[dict]:
    if not pdf.job:  # --ocr-only
        return ocr_table(ocr_set)
    whole = CorpusSet("whole corpus without OCR", files=pdf.files + rest.files, pages=pdf.pages,
                      seconds=pdf.seconds + rest.seconds,
                      job={"chunks": pdf.job["chunks"] + rest.job["chunks"],
                           "counts": {k: pdf.job["counts"].get(k, 0) + rest.job["counts"].get(k, 0)
                                      for k in set(pdf.job["counts"]) | set(rest.job["counts"])}},
                      phases={k: pdf.phases.get(k, 0) + rest.phases.get(k, 0)
                              for k in set(pdf.phases) | set(rest.phases)},
                      raw=[min(pdf.raw) + min(rest.raw)])
    pdf.name, rest.name = "PDFs with a text layer (OCR off)", "other files, no OCR"
    print(f"\nworker seconds are summed over {s.worker_processes} worker processes; parse excludes the OCR in it\n")
    print("| set | files | failed | chunks | seconds | chunks/s | raw chunks/s | vs raw | "
          + " | ".join(PHASES) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(PHASES))
    results = []
    for cs in (pdf, rest, whole):
        chunks = cs.job["chunks"]
        rate, raw_rate = chunks / cs.seconds, chunks / min(cs.raw)
        results.append({"set": cs.name, "files": len(cs.files), "failed": cs.job["counts"].get("failed", 0),
                        "chunks": chunks, "seconds": round(cs.seconds, 2), "chunks_per_s": round(rate, 1),
                        "raw_chunks_per_s": round(raw_rate, 1), "vs_raw": round(rate / raw_rate, 3),
                        "worker_seconds": {k: round(v, 2) for k, v in cs.phases.items()}})
        print(f"| {cs.name} | {len(cs.files)} | {results[-1]['failed']} | {chunks} | {cs.seconds:.1f} | {rate:.1f} | "
              f"{raw_rate:.1f} | {rate / raw_rate:.2f}x | " + " | ".join(phase_cells(cs)) + " |")
    return results + ocr_table(ocr_set)


def ocr_table(ocr_set: CorpusSet) -> list[dict]:
    results = []
    if ocr_set.raw:
        rate, raw_rate = ocr_set.pages / ocr_set.seconds, ocr_set.pages / ocr_set.raw[0]
        results.append({"set": "OCR", "files": len(ocr_set.files), "pages": ocr_set.pages,
                        "chunks": ocr_set.job["chunks"], "seconds": round(ocr_set.seconds, 2),
                        "pages_per_s": round(rate, 4), "raw_pages_per_s": round(raw_rate, 4),
                        "vs_raw": round(rate / raw_rate, 3),
                        "worker_seconds": {k: round(v, 2) for k, v in ocr_set.phases.items()}})
        print("\n| OCR set | files | failed | page images | seconds | pages/s | raw engine pages/s | vs raw | "
              + " | ".join(PHASES) + " |\n|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(PHASES))
        print(f"| images and PDFs without a text layer | {len(ocr_set.files)} | "
              f"{ocr_set.job['counts'].get('failed', 0)} | {ocr_set.pages} | {ocr_set.seconds:.1f} | {rate:.3f} | "
              f"{raw_rate:.3f} | {rate / raw_rate:.2f}x | " + " | ".join(phase_cells(ocr_set)) + " |")
    return results


def run_paragraphs(args, s: Settings) -> list[dict]:
    paras = paragraphs(args.n)
    docs = seed_chunks(paras, s.chunk_size, s.chunk_overlap)
    texts = [d.page_content for d in docs]
    print(f"{len(paras)} paragraphs, {len(texts)} chunks ({s.chunk_size}/{s.chunk_overlap})", flush=True)

    # Raw encoding runs first and again last; the faster run is the limit, so background work on the
    # shared cores (Milvus building an index, say) during one of them does not flatter the pipelines.
    backends = (["torch"] if not args.no_torch or s.embedding_backend == "torch" else []) \
        + ([s.embedding_backend] if s.embedding_backend != "torch" else [])
    raw_times = {backend: [bench_raw(texts, backend)] for backend in backends}
    print(f"  raw done in {', '.join(f'{b} {t[0]:.1f}s' for b, t in raw_times.items())}", flush=True)
    rows = []
    if not args.no_seed:
        t = bench_seed(docs, s.milvus_uri)
        rows.append(("seed: splitter + HuggingFaceEmbeddings + Milvus.from_documents", len(texts), t, {}))
        print(f"  seed done in {t:.1f}s", flush=True)

    _, token = KeyStore(connect(s.effective_redis_url)).create(s.default_tenant, Role.admin, "bench/ingest.py")
    jobs = JobStore.from_url(s.effective_redis_url)
    with tempfile.TemporaryDirectory() as tmp, PrivateStack(s, Path(tmp)) as stack:
        client = GatewayClient(stack.url, api_key=token)
        kb = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_kb(kb, "bench/ingest.py (deleted at the end)")
        stack.warm_up(client, kb, warm_up_files(Path(tmp), with_image=False))
        folder = Path(tmp) / "articles"
        folder.mkdir()
        paths = write_articles(paras, folder)
        t, job = run_job(client, kb, paths)
        assert job["status"] == "done" and job["counts"]["failed"] == 0, job
        rows.append((f"ragway end to end ({len(paths)} files, {s.embedding_backend})", job["chunks"], t,
                     jobs.seconds(job["job_id"])))
        print(f"  ragway done in {t:.1f}s", flush=True)
        t2, job2 = run_job(client, kb, paths)
        assert job2["counts"]["skipped"] == len(paths), job2["counts"]
        rows.append(("ragway re-ingest, unchanged files", job["chunks"], t2, jobs.seconds(job2["job_id"])))
        client.delete_kb(kb)
    for backend in backends:
        raw_times[backend].append(bench_raw(texts, backend))
        print(f"  raw {backend} again in {raw_times[backend][-1]:.1f}s", flush=True)
    rows[:0] = [(f"raw SentenceTransformer.encode ({b}; best of {', '.join(f'{x:.0f}' for x in t)} s)",
                 len(texts), min(t), {}) for b, t in raw_times.items()]

    raw_rate = rows[0][1] / rows[0][2]
    print(f"\nworker seconds are summed over {s.worker_processes} worker processes\n")
    print("| pipeline | chunks | seconds | chunks/s | vs raw | " + " | ".join(PHASES) + " |\n"
          "|---|---:|---:|---:|---:|" + "---:|" * len(PHASES))
    results = []
    for name, chunks, secs, phases in rows:
        rate = chunks / secs
        results.append({"pipeline": name, "chunks": chunks, "seconds": round(secs, 2), "chunks_per_s": round(rate, 1),
                        "vs_raw": round(rate / raw_rate, 3), "worker_seconds": phases})
        cells = [f"{phases[p]:.1f}" if p in phases else "" for p in PHASES]
        print(f"| {name} | {chunks} | {secs:.1f} | {rate:.1f} | {rate / raw_rate:.2f}x | " + " | ".join(cells) + " |")
    raw_same, ragway, again = results[len(backends) - 1], results[-2], results[-1]
    print(f"\nragway vs raw with its own backend: {ragway['chunks_per_s'] / raw_same['chunks_per_s']:.2f}x; "
          f"re-ingest speed-up over first ingest: {ragway['seconds'] / again['seconds']:.1f}x")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="paragraphs (default 2000)")
    parser.add_argument("--corpus", action="store_true", help="the real files of docs/ instead of paragraphs")
    parser.add_argument("--ocr-pages", type=int, default=0, help="--corpus: OCR at most this many page images "
                                                                  "(default 0: all)")
    parser.add_argument("--no-ocr", action="store_true", help="--corpus: leave the OCR set out")
    parser.add_argument("--ocr-only", action="store_true", help="--corpus: only the OCR set")
    parser.add_argument("--raw-sample", type=int, default=0, help="--corpus: time raw encoding on a random sample "
                                                                   "of this many of each set's chunks (default 0: all)")
    parser.add_argument("--no-seed", action="store_true", help="leave the seed pipeline's row out")
    parser.add_argument("--no-torch", action="store_true", help="paragraphs: time raw encoding with Ragway's own "
                                                                 "backend only, not also with PyTorch")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    s = get_settings()
    results = run_corpus(args, s) if args.corpus else run_paragraphs(args, s)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
