"""`ragway`: run the local stack, ingest files, search and ask from the command line."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ragway.jobs import FINISHED_JOB
from ragway.settings import get_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="The local stack without Docker (Milvus, Redis, FastChat, workers, gateway).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
jobs_app = typer.Typer(help="Ingest jobs: list, show, cancel, retry failed files.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
keys_app = typer.Typer(help="API keys, managed on the server (direct access to Redis).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
kb_app = typer.Typer(help="Knowledge bases of your tenant (through the gateway, admin key).", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
console = Console(stderr=True)
SERVICE_NAMES = ["redis", "milvus", "fastchat-controller", "fastchat-worker", "fastchat-api", "ingest-worker",
                 "gateway"]
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "sample"


def _local_key_file() -> Path:
    return get_settings().state_dir / "admin.key"


def _client():
    """A gateway client with the key from RAGWAY_API_KEY, else the local stack's admin key (`ragway demo`)."""
    from ragway.apps.client import GatewayClient

    key = os.environ.get("RAGWAY_API_KEY") or (
        _local_key_file().read_text().strip() if _local_key_file().exists() else None)
    return GatewayClient(os.environ.get("RAGWAY_GATEWAY_URL", get_settings().gateway_url), api_key=key)


def _key_store():
    from ragway.auth import KeyStore
    from ragway.redis_client import connect

    return KeyStore(connect(get_settings().effective_redis_url))


@keys_app.command("create")
def keys_create(tenant: str = typer.Option(..., "--tenant"),
                role: str = typer.Option(..., "--role", help="reader, writer or admin"),
                name: str = typer.Option("", "--name", help="What the key is for")) -> None:
    """Create an API key (bootstrap: the first admin key of a tenant). Prints the key once."""
    from ragway.auth import Role

    record, token = _key_store().create(tenant, Role(role), name)
    console.print(f"key id {record.key_id}, tenant {record.tenant}, role {record.role}")
    typer.echo(token)


@keys_app.command("list")
def keys_list(tenant: str = typer.Option(..., "--tenant")) -> None:
    """The keys of a tenant (ids and roles, never the secrets)."""
    for k in _key_store().list(tenant):
        state = "revoked" if k.revoked_at else "active"
        console.print(f"{k.key_id}  {k.role:7s} {state:8s} {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, tenant: str = typer.Option(..., "--tenant")) -> None:
    """Revoke a key: requests with it fail at once."""
    _key_store().revoke(tenant, key_id)
    console.print(f"revoked {key_id}")


@kb_app.command("create")
def kb_create(name: str, description: str = typer.Option("", "--description")) -> None:
    """Create a knowledge base."""
    console.print(_client().create_kb(name, description))


@kb_app.command("list")
def kb_list() -> None:
    """The knowledge bases of your tenant."""
    for kb in _client().kbs():
        console.print(f"{kb['name']:30s} {kb['description']}")


@kb_app.command("delete")
def kb_delete(name: str) -> None:
    """Delete a knowledge base and every chunk in it."""
    _client().delete_kb(name)
    console.print(f"deleted {name}")


@kb_app.command("reindex")
def kb_reindex(
    collection: str = typer.Option(None, "--collection", help="Collection or alias (default RAGWAY_COLLECTION)"),
    batch: int = typer.Option(1000, "--batch", min=1, max=16_384, help="Rows read and written per call"),
    re_embed: bool = typer.Option(False, "--re-embed", help="Embed every chunk again with the configured model "
                                  "(automatic when the collection records another model)"),
    force: bool = typer.Option(False, "--force", help="Rebuild even when schema and model are current"),
    drop_old: bool = typer.Option(False, "--drop-old", help="Drop former versions (after a successful rebuild, "
                                  "or alone: the versions kept by earlier runs)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be done"),
) -> None:
    """Rebuild the chunk collection on the current schema behind an alias (on the server: talks to Milvus
    directly, not through the gateway). Pause ingestion while it runs; see ragway/reindex.py."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    from ragway import reindex
    from ragway.embedder import get_embedder

    settings = get_settings()
    name = collection or settings.collection
    columns = [TextColumn("[bold]copying rows"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn()]
    try:
        client = MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token)
        plan = reindex.plan(settings, client, name, re_embed=re_embed, force=force,
                            current_dim=lambda: get_embedder(settings).dim)
        kind = f"alias of {plan.source}" if plan.aliased else "a collection"
        console.print(f"{name} ({kind}): schema v{plan.version}, {plan.rows} rows, {plan.model or 'unrecorded'} "
                      f"vectors ({plan.dim} dims): {plan.reason}")
        if not plan.needed:
            dropped = reindex.drop_former_versions(client, name) if drop_old and not dry_run else []
            kept = [] if drop_old else reindex.former_versions(client, name)
            console.print("nothing to rebuild" + (f"; dropped {', '.join(dropped)}" if dropped else "")
                          + (f"; former versions kept: {', '.join(kept)} (--drop-old drops them)" if kept else ""))
            return
        if dry_run:
            console.print(f"would copy {plan.rows} rows into {name}_v{reindex.SCHEMA_VERSION}_<stamp>"
                          + (f", re-embedded with {settings.embedding_model_id}" if plan.re_embed else "")
                          + f", then point {name} at it")
            return
        with Progress(*columns, console=console) as progress:
            result = reindex.rebuild(settings, client, plan, batch=batch, embedder=lambda: get_embedder(settings),
                                     progress=_Bar(progress, "copy"), drop_old=drop_old)
    except (reindex.ReindexError, MilvusException) as exc:
        console.print(f"[red]reindex failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"{name} -> {result.target}: {result.copied} rows"
                  + (f", re-embedded with {settings.embedding_model_id}" if plan.re_embed else "")
                  + ("" if result.index_ready else " (its index was still building)"))
    if result.changed_after_flip:
        console.print(f"[yellow]{result.previous} changed just before the switch (or could not be checked):"
                      "[/yellow] it is kept; ingest the files written meanwhile again")
    if result.dropped:
        console.print(f"dropped {', '.join(result.dropped)}")
    else:
        console.print(f"previous collection {result.previous} kept (released); to drop it: "
                      f"ragway kb reindex --collection {name} --drop-old")
    if result.restart_services:
        console.print("restart the gateway and the ingest worker to load the new schema/model: "
                      "ragway stack down gateway ingest-worker && ragway stack up")


@stack_app.command("up")
def stack_up() -> None:
    """Start every service in the background and wait until each is healthy."""
    from ragway.apps.stack import Stack

    try:
        Stack(get_settings(), say=console.print).up()
    except RuntimeError as exc:
        console.print(f"[red]stack up failed:[/red] {exc}")
        raise typer.Exit(1) from exc


@stack_app.command("down")
def stack_down(names: list[str] = typer.Argument(None, help="Services to stop (default: all)")) -> None:
    """Stop the services of the local stack (data stays in the state folder)."""
    from ragway.apps.stack import Stack

    Stack(get_settings(), say=console.print).down(names or None)


@stack_app.command("status")
def stack_status() -> None:
    """Show which services run and whether they answer their health check."""
    from ragway.apps.stack import Stack, services

    specs = services(get_settings())
    for name, (pid, healthy) in Stack(get_settings()).status().items():
        state = "healthy" if healthy else ("starting/unhealthy" if pid else "stopped")
        console.print(f"{name:20s} {state:20s} pid={pid or '-':<8} {specs[name].url}")


@app.command("run")
def run_service(name: str = typer.Argument(..., help="One of: " + ", ".join(SERVICE_NAMES))) -> None:
    """Run one service in the foreground (what `stack up` and the container images start)."""
    from ragway.apps.stack import service_argv

    argv = service_argv(name, get_settings())
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(..., exists=True, help="Files or folders to ingest (folders are walked)"),
    kb: str = typer.Option(..., "--kb", help="Knowledge base"),
    include: list[str] = typer.Option([], "--include", help="Glob of files to take in folders, e.g. '**/*.pdf'"),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of files to leave out"),
    batch_files: int = typer.Option(50, help="Files per upload request"),
    batch_mib: int = typer.Option(64, help="MiB per upload request"),
    wait: bool = typer.Option(True, help="Follow the job until it ends"),
) -> None:
    """Upload files and folders to a knowledge base as one job, in batches, and follow it."""
    from ragway.sources import walk

    files: list[tuple[Path, str]] = []
    for path in paths:
        files.extend([(path, path.name)] if path.is_file() else walk(path, include, exclude))
    names = [n for _, n in files]
    if not files:
        raise typer.BadParameter("no files found")
    if len(set(names)) != len(names):
        raise typer.BadParameter("two files have the same name relative to their folder; ingest them separately")
    client = _client()
    job_id = client.open_job(kb)["job_id"]
    console.print(f"job {job_id}: uploading {len(files)} file(s) to kb {kb!r}")
    for batch in _upload_batches(files, batch_files, batch_mib * 1024 * 1024):
        refused = client.add_files(job_id, [p for p, _ in batch], [n for _, n in batch])["refused"]
        for reason in refused:
            console.print(f"[red]refused[/red] {reason}")
    client.seal(job_id)
    if wait:
        job = follow_job(client, job_id)
        for f in job["files"]:
            if f["status"] == "failed":
                console.print(f"[red]failed[/red] {f['error']}")
        console.print(f"job {job['status']}: {job['counts']}, {job['chunks']} chunks")
        if job["status"] == "failed":
            raise typer.Exit(1)


def _upload_batches(files: list[tuple[Path, str]], max_files: int, max_bytes: int):
    batch, size = [], 0
    for path, name in files:
        n = path.stat().st_size
        if batch and (len(batch) >= max_files or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append((path, name))
        size += n
    if batch:
        yield batch


def follow_job(client, job_id: str, poll_s: float = 1.0) -> dict:
    columns = [TextColumn("[bold]ingesting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("ingest", total=None, info="")
        while True:
            job = client.job(job_id, files=False)
            c = job["counts"]
            finished = c["done"] + c["skipped"] + c["failed"] + c["cancelled"]
            elapsed = time.time() - job["started_at"] if job["started_at"] else 0
            rate = f"{job['chunks'] / elapsed:.1f} chunks/s" if elapsed > 0 else ""
            bar.update(task, total=job["total"], completed=finished,
                       info=f"done {c['done']} skipped {c['skipped']} failed {c['failed']} {rate}")
            if job["status"] in FINISHED_JOB:
                return client.job(job_id)
            time.sleep(poll_s)


@jobs_app.command("list")
def jobs_list(limit: int = typer.Option(20, "--limit")) -> None:
    """Recent jobs."""
    for job in _client().jobs(limit):
        console.print(f"{job['job_id']}  {job['kb']:20s} {job['status']:10s} {job['counts']} {job['chunks']} chunks")


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """A job with every file's status and error."""
    job = _client().job(job_id)
    console.print(f"{job['job_id']}  kb={job['kb']} status={job['status']} {job['counts']} {job['chunks']} chunks")
    for f in job["files"]:
        console.print(f"  {f['status']:9s} {f['chunks']:6d}  {f['name']}  {f['error'] or ''}")


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job: files not started are not ingested."""
    console.print(_client().cancel(job_id)["counts"])


@jobs_app.command("retry")
def jobs_retry(job_id: str, wait: bool = typer.Option(True)) -> None:
    """Queue a job's failed files again."""
    client = _client()
    client.retry(job_id)
    if wait:
        console.print(follow_job(client, job_id)["counts"])


@app.command("documents")
def documents(kb: str = typer.Option(..., "--kb"), limit: int = typer.Option(100, "--limit")) -> None:
    """The documents of a knowledge base with their chunk counts."""
    for d in _client().documents(kb, limit):
        console.print(f"{d['doc_id']}  {d['chunks']:6d} chunks  {d['source']}")


@app.command("search")
def search(query: str, kb: str = typer.Option(..., "--kb"),
           top_k: int = typer.Option(None, "--top-k", help="Chunks to return (default: the server's RAGWAY_TOP_K)"),
           mode: str = typer.Option(None, "--mode", help="dense, bm25, hybrid or mmr (default: the server's "
                                                         "RAGWAY_RETRIEVAL_MODE)")) -> None:
    """Print the chunks closest to a query."""
    for hit in _client().search(kb, query, top_k, **({"mode": mode} if mode else {}))["hits"]:
        where = escape(f"{hit['source']} p.{hit['page']} #{hit['chunk_index']}{_also_in(hit)}")
        console.print(f"[bold]{hit['score']:.3f}[/bold] {where}", highlight=False)
        console.print(f"   {hit['text'][:300]}", markup=False)


def _also_in(hit: dict) -> str:
    """" (also in a.csv, b.xlsx)" for a hit other files hold the same text of (retriever.fold_repeats)."""
    others = [ref["source"] for ref in hit.get("also_in") or []]
    return f" (also in {', '.join(others)})" if others else ""


@app.command("ask")
def ask(question: str, kb: str = typer.Option(..., "--kb"),
        top_k: int = typer.Option(None, "--top-k", help="Chunks retrieved (default: RAGWAY_TOP_K)")) -> None:
    """Answer a question from a knowledge base and print the sources."""
    print_answer(_client().ask(kb, question, **({"top_k": top_k} if top_k else {})))


def print_answer(result: dict) -> None:
    typer.echo(f"Answer: {result['answer']}")
    if result.get("declined") and result.get("unsupported"):
        typer.echo(f"(declined: the model's answer was withdrawn, unsupported: {', '.join(result['unsupported'])})")
    elif result.get("declined"):
        typer.echo("(declined: no passage holds the answer)")
    elif not result.get("grounded", True):
        typer.echo(f"(unsupported by the cited passages: {', '.join(result['unsupported'])})")
    cited = {c["n"] for c in result.get("citations", [])}
    typer.echo("\nSources (* = cited):")
    for i, src in enumerate(result["sources"], start=1):
        page = f", page {src['page']}" if src["page"] else ""
        mark = "*" if i in cited else " "
        typer.echo(f" {mark}[{i}] {src['source']}{page}{_also_in(src)}: {src['text'][:160]!r}")


@app.command("demo")
def demo(
    question: str = typer.Option("Within how many days must travel expenses be submitted?",
                                 help="Question asked after ingesting the sample corpus"),
    kb: str = typer.Option("demo", "--kb"),
) -> None:
    """The main job: bring the stack up, ingest the sample corpus, ask a question, print the answer."""
    stack_up()
    _ensure_local_admin_key()
    if kb not in {k["name"] for k in _client().kbs()}:
        _client().create_kb(kb, "The sample corpus of `ragway demo`")
    ingest([SAMPLE_DIR], kb=kb, include=[], exclude=[], batch_files=50, batch_mib=64, wait=True)
    print_answer(_client().ask(kb, question))


def _ensure_local_admin_key() -> None:
    """An admin key of the default tenant for the local stack's CLI, kept in the state folder (mode 600)."""
    from ragway.errors import Unauthenticated

    path, store = _local_key_file(), _key_store()
    if path.exists():
        try:
            store.authenticate(path.read_text().strip())
            return
        except Unauthenticated:
            pass
    _, token = store.create(get_settings().default_tenant, "admin", "local CLI (ragway demo)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token)
    console.print(f"created an admin API key for tenant {get_settings().default_tenant!r} in {path}")


class _Bar:
    """A rich progress task with the start/advance calls ragway.apps.evaluation expects."""

    def __init__(self, progress: Progress, label: str):
        self.progress, self.task = progress, progress.add_task(label, total=None)

    def start(self, total: int) -> None:
        self.progress.update(self.task, total=total, completed=0)

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)


@app.command("eval")
def eval_command(
    dataset: Path = typer.Option(None, "--dataset", exists=True,
                                 help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or a "
                                      "SQuAD-style JSON file (paragraph = document, every question scored)"),
    qa: Path = typer.Option(None, "--qa", exists=True,
                            help="Questions over real files with their evidence (JSON lines, e.g. "
                                 "tests/data/devqa.jsonl): hit@1/5/10 and MRR per mode, format and subset"),
    docs: Path = typer.Option(None, "--docs", help="--qa: folder the question files are under "
                                                   "(default: $RAGWAY_DATA_DIR/docs, else ../shared/data/docs)"),
    split: str = typer.Option(None, "--split", help="qrels/<split>.tsv to score (default test; tune on train "
                                                    "only); --qa: tune, report or all (default)"),
    modes: str = typer.Option("dense,bm25,hybrid,mmr", "--modes", help="Comma-separated retrieval modes"),
    limit_queries: int = typer.Option(0, "--limit-queries", help="Score only the first N judged queries (0 = all)"),
    depth: int = typer.Option(300, "--depth", help="Chunks retrieved per query (enough for ~100 documents)"),
    collection: str = typer.Option("", "--collection", help="Milvus collection of the throwaway kb "
                                                           "(default: ragway_eval, one per embedding model)"),
    keep: bool = typer.Option(False, "--keep", help="Keep the ingested kb: a later run with the same corpus, "
                                                   "chunking and model reuses it instead of ingesting again"),
    json_path: Path = typer.Option(None, "--json", help="Also write the report as JSON here"),
    consistency: str = typer.Option("Bounded", "--consistency", help="Milvus consistency of the searches"),
    answers: int = typer.Option(0, "--answers", help="Also ask the LLM N unanswerable and N answerable questions "
                                                    "(SQuAD 2.0 metadata) and count honest declines; needs the LLM"),
    answer_mode: str = typer.Option(None, "--answer-mode", help="Retrieval mode of the --answers questions "
                                                                "(default: RAGWAY_RETRIEVAL_MODE)"),
) -> None:
    """Retrieval quality on a BEIR dataset: ingest its corpus into a throwaway kb (in-process: splitter,
    embedder, Milvus), run each mode, print nDCG@10, recall@1/5/10/100, MRR@10 and query latency."""
    import json
    import time

    from rich.table import Table

    from ragway.apps import evaluation as ev
    from ragway.retriever import MODES, Retriever

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODES]
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown mode(s) {unknown}; use {', '.join(MODES)}")
    if (dataset is None) == (qa is None):
        raise typer.BadParameter("give one of --dataset (a BEIR folder or SQuAD file) and --qa (questions over files)")
    if qa is not None:
        return _eval_qa(qa, docs, split or "all", chosen, collection, keep, json_path, consistency)
    split = split or "test"
    answer_mode = answer_mode or get_settings().retrieval_mode
    if answer_mode not in MODES:
        raise typer.BadParameter(f"unknown --answer-mode {answer_mode!r}; use {', '.join(MODES)}")
    if collection == "ragway_chunks" or collection == get_settings().collection:
        raise typer.BadParameter("use a collection of its own for evaluation, not the service's")
    collection = collection or ev.eval_collection(get_settings())
    try:
        data = ev.load_dataset(dataset, split)
    except FileNotFoundError as exc:  # not a BEIR folder, or no such split
        raise typer.BadParameter(str(exc), param_hint="--dataset") from exc
    # The corpus does not change once ingested (checked with a Strong count): Bounded reads are exact
    # here and ~30 ms faster per call on 2.3.5; --consistency Strong measures the service's default.
    # The kb is static during the run: its BM25 fingerprint (a scan of ~1 row per document) is read once.
    settings, embedder, store = _evaluation_index(collection, consistency)
    kb = ev.eval_kb_name(data, settings, embedder.model_name)
    console.print(f"{data.name} ({split}): {len(data.corpus)} documents, {len(data.judged_queries)} judged queries; "
                  f"kb {kb!r} in collection {collection!r}, server {store.server_version}")
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn()]
    retriever = Retriever(settings, embedder, store)
    lexical_backend = retriever.lexical_backend  # read now: the collection may be dropped before the report
    results, bm25_build_s = [], None
    try:
        started = time.perf_counter()
        if not ev.kept_kb_is_complete(data, store, kb):
            store.delete_kb(ev.EVAL_TENANT, kb)
            with Progress(*columns, console=console) as progress:
                ev.ingest_corpus(data, settings, embedder, store, kb, _Bar(progress, "embedding chunks"))
        else:
            console.print("reusing the kept kb (same corpus, chunking and model)")
        ingest_s = time.perf_counter() - started
        _settle(store)
        chunks = store.count(ev.EVAL_TENANT, kb)
        if ("bm25" in chosen or "hybrid" in chosen) and lexical_backend == "memory":
            t0 = time.perf_counter()
            retriever.bm25_index(ev.EVAL_TENANT, kb)
            bm25_build_s = time.perf_counter() - t0
        judged = data.judged_queries[:limit_queries] if limit_queries else data.judged_queries
        embed_ms = ev.single_query_embed_ms(embedder, [data.queries[q] for q in judged])
        with Progress(*columns, console=console) as progress:
            retriever.embedder = ev.PrecomputedQueries(embedder, [data.queries[q] for q in judged],
                                                       progress=_Bar(progress, "embedding queries"))
            for mode in chosen:
                results.append(ev.run_queries(retriever, kb, data, mode, depth, limit_queries or None,
                                              _Bar(progress, f"queries ({mode})")))
        answer_report = _answer_check(settings, embedder, store, kb, data, dataset, answers, answer_mode) \
            if answers else None
    finally:
        if not keep:
            store.delete_kb(ev.EVAL_TENANT, kb)
            if store.client.query(collection, filter="chunk_index >= 0", output_fields=["count(*)"],
                                  consistency_level="Strong")[0]["count(*)"] == 0:
                store.client.drop_collection(collection)
    s = settings
    report = ev.EvalReport(
        dataset=data.name, split=split, collection=collection, kb=kb, documents=len(data.corpus), chunks=chunks,
        queries=results[0].queries if results else 0, ingest_s=ingest_s, bm25_build_s=bm25_build_s,
        query_embed_ms_p50=embed_ms,
        settings={"embedding_backend": s.embedding_backend, "embedding_model": s.embedding_model_id,
                  "chunk_size": s.chunk_size,
                  "chunk_overlap": s.chunk_overlap, "depth": depth, "lexical_backend": lexical_backend,
                  "bm25_k1": s.bm25_k1, "bm25_b": s.bm25_b, "bm25_stem": s.bm25_stem, "bm25_cjk_mode": s.bm25_cjk_mode,
                  "bm25_cjk_chars": s.bm25_cjk_chars,
                  "hybrid_fusion": s.hybrid_fusion, "rrf_k": s.rrf_k, "hybrid_dense_weight": s.hybrid_dense_weight,
                  "hybrid_dense_weight_cjk": s.cjk_dense_weight,
                  "hybrid_fetch_k": s.hybrid_fetch_k, "mmr_fetch_k": s.mmr_fetch_k, "mmr_lambda": s.mmr_lambda,
                  "search_consistency": s.search_consistency},
        results=results, answers=answer_report.as_dict() if answer_report else None)
    table = Table(title=f"{data.name} / {split}: {report.queries} queries, {len(data.corpus)} docs, {chunks} chunks")
    for col in ("mode", *ev.METRIC_NAMES, "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in report.as_dict()["modes"]:
        table.add_row(r["mode"], *(f"{r[m]:.4f}" for m in ev.METRIC_NAMES),
                      f"{r['latency_ms_p50']:.1f}", f"{r['latency_ms_p95']:.1f}")
    Console(width=160).print(table)
    console.print(f"latency = retrieval only (query vectors encoded beforehand); one query's encoding: "
                  f"p50 {embed_ms:.1f} ms. ingest {ingest_s:.0f} s" +
                  (f", BM25 index build {bm25_build_s:.1f} s" if bm25_build_s is not None else ""))
    if answer_report:
        a = report.answers
        console.print(f"answers ({answer_mode}, threshold {s.answer_threshold}): {a['unanswerable']} unanswerable "
                      f"questions, {a['declined_unanswerable']:.1%} declined ({a['declined_by_threshold']:.1%} by the "
                      f"score threshold); {a['answerable']} answerable, {a['false_declines_answerable']:.1%} "
                      f"declined, {a['gold_in_answer_answerable']:.1%} contain a gold answer")
    if json_path:
        json_path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
        console.print(f"wrote {json_path}")


def _eval_qa(qa: Path, docs: Path | None, split: str, modes: list[str], collection: str, keep: bool,
             json_path: Path | None, consistency: str) -> None:
    """`ragway eval --qa`: the QA file's files ingested (in-process, the service's own loader, splitter,
    embedder and store) into a kb of the evaluation collection, every question through each mode."""
    import json

    from rich.table import Table

    from ragway import grounding
    from ragway.apps import evaluation as ev
    from ragway.retriever import Retriever

    items = ev.load_qa(qa, split)
    docs = docs or ev.data_dir() / "docs"
    files = sorted({f for item in ev.load_qa(qa, "all") for f in item.files})  # every split: one kb for both
    missing = [f for f in files if not (docs / f).is_file()]
    if missing:
        raise typer.BadParameter(f"{len(missing)} file(s) of {qa} are not under {docs}: {missing[:3]} (--docs)")
    if collection == get_settings().collection:
        raise typer.BadParameter("use a collection of its own for evaluation, not the service's")
    collection = collection or ev.eval_collection(get_settings())
    settings, embedder, store = _evaluation_index(collection, consistency)
    kb = ev.qa_kb_name(qa, settings, embedder.model_name)
    console.print(f"{qa.name} ({split}): {len(items)} questions over {len(files)} files; kb {kb!r} in "
                  f"collection {collection!r}, server {store.server_version}")
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    retriever = Retriever(settings, embedder, store)
    results = []
    try:
        with Progress(*columns, console=console) as progress:
            failed = ev.ingest_files(docs, files, settings, embedder, store, kb, _Bar(progress, "files"))
        for rel, reason in failed.items():
            console.print(f"[yellow]not ingested:[/yellow] {rel}: {reason}")
        _settle(store)
        chunks = store.count(ev.EVAL_TENANT, kb)
        retriever.bm25_index(ev.EVAL_TENANT, kb)
        with Progress(*columns, console=console) as progress:
            retriever.embedder = ev.PrecomputedQueries(embedder, [i.question for i in items],
                                                       progress=_Bar(progress, "embedding queries"))
            for mode in modes:
                results.append(ev.run_qa(retriever, kb, items, mode, progress=_Bar(progress, f"questions ({mode})")))
    finally:
        if not keep:
            store.delete_kb(ev.EVAL_TENANT, kb)
    english_only = not settings.main_embedding_model_id.startswith("multilingual")
    report = ev.qa_report(items, results, settings.answer_threshold,
                          threshold_reads=lambda i: not (english_only and grounding.language_of(i.question) == "zh"))
    report.update({"qa": str(qa), "split": split, "kb": kb, "collection": collection, "files": len(files),
                   "chunks": chunks, "failed_files": failed, "questions": len(items)})
    table = Table(title=f"{qa.name} / {split}: {len(items)} questions ({report['unanswerable']} unanswerable), "
                        f"{len(files)} files, {chunks} chunks")
    table.add_column("group")
    table.add_column("n", justify="right")
    for mode in modes:
        for k in ("hit@1", "hit@5", "hit@10", "mrr@10"):
            table.add_column(f"{mode} {k}", justify="right")
    for row in report["groups"]:
        table.add_row(row["group"], str(row["questions"]),
                      *(f"{row[m][k]:.3f}" for m in modes for k in ("hit@1", "hit@5", "hit@10", "mrr@10")))
    Console(width=220).print(table)
    for mode, t in report["threshold"].items():
        console.print(f"{mode}: answer threshold {settings.answer_threshold} declines {t['unanswerable_declined']} of "
                      f"unanswerable and {t['answerable_declined']} of answerable questions (where it applies); "
                      f"p50 {t['latency_ms_p50']} ms; missed at 5: {' '.join(report['misses_at_5'][mode])}")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        console.print(f"wrote {json_path}")


def _answer_check(settings, embedder, store, kb, data, dataset: Path, n: int, mode: str):
    from ragway.apps import evaluation as ev
    from ragway.generator import Generator
    from ragway.rag import RagService, RetrievalOptions

    answerability = ev.load_answerability(dataset) if dataset.is_dir() else {}
    if not answerability:
        raise typer.BadParameter("--answers needs queries with metadata.is_impossible (SQuAD 2.0 style)")
    rag = RagService(settings, embedder, store, Generator(settings))
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        return ev.run_answers(rag, kb, data, answerability, n, RetrievalOptions(mode=mode),
                              _Bar(progress, "asking the LLM"))


def main() -> None:
    from ragway.apps.client import GatewayError

    try:
        app()
    except GatewayError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except httpx.ConnectError as exc:
        console.print(f"[red]cannot reach the gateway:[/red] {exc} (is the stack up? `ragway stack status`)")
        sys.exit(2)


def _settle(store) -> None:
    """Measure the kb as users search it at rest: flushed, every row in the HNSW index."""
    with console.status("waiting for Milvus to flush and index the kb"):
        if not store.settle():
            console.print("[yellow]the index still lags after 10 min: dense results may differ at rest[/yellow]")


def _evaluation_index(collection: str, consistency: str):
    """Settings, embedder and store of an evaluation run over `collection`. The corpus does not change
    once ingested, so the kb's BM25 fingerprint is read once a day rather than every few seconds."""
    from ragway.embedder import get_embedder
    from ragway.store import ChunkStore

    settings = get_settings().model_copy(update={"collection": collection, "search_consistency": consistency,
                                                 "bm25_check_interval_s": 24 * 3600.0})
    embedder = get_embedder(settings)
    store = ChunkStore(settings, dim=embedder.dim)
    store.ensure_collection()
    return settings, embedder, store


if __name__ == "__main__":
    main()
