"""`ragway`: run the local stack, ingest files, search and ask from the command line."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragway.settings import get_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="The local stack without Docker (Milvus, Redis, FastChat, workers, gateway).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
console = Console(stderr=True)
SERVICE_NAMES = ["redis", "milvus", "fastchat-controller", "fastchat-worker", "fastchat-api", "ingest-worker",
                 "gateway"]
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "deploy" / "sample"


def _client():
    from ragway.client import GatewayClient

    return GatewayClient(os.environ.get("RAGWAY_GATEWAY_URL", get_settings().gateway_url))


@stack_app.command("up")
def stack_up() -> None:
    """Start every service in the background and wait until each is healthy."""
    from ragway.stack import Stack

    try:
        Stack(get_settings(), say=console.print).up()
    except RuntimeError as exc:
        console.print(f"[red]stack up failed:[/red] {exc}")
        raise typer.Exit(1) from exc


@stack_app.command("down")
def stack_down(names: list[str] = typer.Argument(None, help="Services to stop (default: all)")) -> None:
    """Stop the services of the local stack (data stays in the state folder)."""
    from ragway.stack import Stack

    Stack(get_settings(), say=console.print).down(names or None)


@stack_app.command("status")
def stack_status() -> None:
    """Show which services run and whether they answer their health check."""
    from ragway.stack import Stack, services

    specs = services(get_settings())
    for name, (pid, healthy) in Stack(get_settings()).status().items():
        state = "healthy" if healthy else ("starting/unhealthy" if pid else "stopped")
        console.print(f"{name:20s} {state:20s} pid={pid or '-':<8} {specs[name].url}")


@app.command("run")
def run_service(name: str = typer.Argument(..., help="One of: " + ", ".join(SERVICE_NAMES))) -> None:
    """Run one service in the foreground (what `stack up` and the container images start)."""
    from ragway.stack import service_argv

    argv = service_argv(name, get_settings())
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(..., exists=True, help="Files or directories to ingest"),
    kb: str = typer.Option(..., "--kb", help="Knowledge base"),
    wait: bool = typer.Option(True, help="Follow the job until it ends"),
) -> None:
    """Upload files to a knowledge base and follow the ingest job."""
    files = sorted(p for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    if not files:
        raise typer.BadParameter("no files found")
    client = _client()
    job = client.upload(kb, files)
    console.print(f"job {job['job_id']}: {len(files)} file(s) queued")
    if wait:
        job = follow_job(client, job["job_id"], len(files))
        for f in job["files"]:
            if f["status"] == "failed":
                console.print(f"[red]failed[/red] {f['error']}")
        console.print(f"job {job['status']}: {job['counts']}")
        if job["status"] == "failed":
            raise typer.Exit(1)


def follow_job(client, job_id: str, total: int, poll_s: float = 1.0) -> dict:
    with Progress(TextColumn("[bold]ingesting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("ingest", total=total, info="")
        while True:
            job = client.job(job_id)
            c = job["counts"]
            bar.update(task, completed=c["done"] + c["skipped"] + c["failed"],
                       info=f"done {c['done']} skipped {c['skipped']} failed {c['failed']}")
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(poll_s)


@app.command("search")
def search(query: str, kb: str = typer.Option(..., "--kb"), top_k: int = typer.Option(5, "--top-k")) -> None:
    """Print the chunks closest to a query."""
    for hit in _client().search(kb, query, top_k)["hits"]:
        console.print(f"[bold]{hit['score']:.3f}[/bold] {hit['source']} p.{hit['page']} #{hit['chunk_index']}")
        console.print(f"   {hit['text'][:300]}")


@app.command("ask")
def ask(question: str, kb: str = typer.Option(..., "--kb"), top_k: int = typer.Option(5, "--top-k")) -> None:
    """Answer a question from a knowledge base and print the sources."""
    print_answer(_client().ask(kb, question, top_k))


def print_answer(result: dict) -> None:
    typer.echo(f"Answer: {result['answer']}\n\nSources:")
    for i, src in enumerate(result["sources"], start=1):
        page = f", page {src['page']}" if src["page"] else ""
        typer.echo(f"  [{i}] {src['source']}{page} (score {src['score']:.3f}): {src['text'][:160]!r}")


@app.command("demo")
def demo(
    question: str = typer.Option("Within how many days must travel expenses be submitted?",
                                 help="Question asked after ingesting the sample corpus"),
    kb: str = typer.Option("demo", "--kb"),
) -> None:
    """The main job: bring the stack up, ingest the sample corpus, ask a question, print the answer."""
    stack_up()
    ingest([SAMPLE_DIR], kb=kb, wait=True)
    print_answer(_client().ask(kb, question))


if __name__ == "__main__":
    app()
