"""LLM speed: llama.cpp in-process against the same model served through FastChat, in one run.

    .venv/bin/python bench/llm.py [--rounds 3] [--prompt-words 300] [--max-tokens 96] [--no-transformers]

  raw           xllamacpp in this process: the GGUF file the stack serves, the same threads and
                context; prefill and decode tokens/s from llama.cpp's own timings
  served        the same prompts through FastChat's OpenAI API (openai_api_server -> controller ->
                Ragway's llama.cpp worker), streamed: prefill = prompt tokens / time to the first
                token, decode = further tokens / time after the first (HTTP and JSON included)
  transformers  the same model dequantised from the GGUF into transformers (fp32, CPU), as
                FastChat's model_worker would run it: one round, fewer tokens (it is ~10x slower)

Raw and served alternate round by round, each round with a prompt of its own (no prompt-cache
reuse between rounds); ratios are served / raw. Needs the local stack (`ragway stack up`).

`--threads 1,2` adds a second table: llama.cpp's raw decode speed with each thread count, alone and
while an ingest encodes beside it (a child process running the ingest worker's embedder, with the
ingest worker's threads, over fresh paragraphs without pause), and the ingest's chunks/s meanwhile."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from openai import OpenAI  # noqa: E402

from ragway.llm_model import ensure_gguf  # noqa: E402
from ragway.settings import get_settings  # noqa: E402

SYSTEM = "You are a helpful assistant."
FILLER = ("The quarterly report lists revenue, costs and headcount for each region, with notes on travel, "
          "hotels, leave and security policies that employees must follow. ")


RUN = f"{time.time_ns() % 10**9}"  # prompts of no earlier run are in the worker's prompt cache


def user_prompt(round_no: int, words: int) -> str:
    body = " ".join((FILLER * (words // len(FILLER.split()) + 1)).split()[:words])
    return f"Report {RUN}-{round_no}. {body}\n\nSummarise the report above in a long, detailed paragraph."


def chatml(user: str) -> str:
    """FastChat's qwen-7b-chat (ChatML) template, as openai_api_server builds it for the worker."""
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def raw_round(engine, prompt: str, max_tokens: int) -> tuple[float, float, int, int]:
    result = engine.handle_completions({"prompt": chatml(prompt), "n_predict": max_tokens, "temperature": 0,
                                        "cache_prompt": False, "ignore_eos": True})
    t = result["timings"]
    return t["prompt_per_second"], t["predicted_per_second"], t["prompt_n"], t["predicted_n"]


def served_round(client: OpenAI, model: str, prompt: str, max_tokens: int) -> tuple[float, float, int, int]:
    started = time.perf_counter()
    first = None
    usage = None
    stream = client.chat.completions.create(
        model=model, temperature=0, max_tokens=max_tokens, stream=True,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}])
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
        usage = chunk.usage or usage
    end = time.perf_counter()
    counts = client.chat.completions.create(  # FastChat's stream carries no usage: count the same call
        model=model, temperature=0, max_tokens=1,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]).usage
    prompt_tokens = counts.prompt_tokens
    completion = usage.completion_tokens if usage else max_tokens
    return prompt_tokens / (first - started), (completion - 1) / (end - first), prompt_tokens, completion


def transformers_round(gguf: Path, prompt: str, max_tokens: int, threads: int) -> tuple[float, float, int, int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    ids = tokenizer(chatml(prompt), return_tensors="pt").input_ids
    with torch.inference_mode():
        started = time.perf_counter()
        out = model(ids, use_cache=True)
        prefill_s = time.perf_counter() - started
        past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        started = time.perf_counter()
        for _ in range(max_tokens - 1):
            out = model(token, past_key_values=past, use_cache=True)
            past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        decode_s = time.perf_counter() - started
    return ids.shape[1] / prefill_s, (max_tokens - 1) / decode_s, ids.shape[1], max_tokens


INGEST_LOOP = """
import sys, time
from ragway.embedder import get_embedder
from ragway.settings import get_settings
embedder = get_embedder(get_settings().for_ingest_worker())
words = "travel hotel leave budget region quarter policy security revenue staff".split()
done, started = 0, time.perf_counter()
print("ready", flush=True)
while True:
    batch = [" ".join(words[(i + j) % len(words)] for j in range(60)) + f" {done + i}" for i in range(32)]
    embedder.embed(batch)
    done += len(batch)
    print(done, time.perf_counter() - started, flush=True)
"""


def start_ingest() -> subprocess.Popen:
    """A child process encoding chunks as an ingest worker does, until stopped."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", INGEST_LOOP], cwd=root, stdout=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdout.readline().strip() == "ready", "the ingest loop did not start"
    return proc


def stop_ingest(proc: subprocess.Popen) -> float:
    """Stop the ingest loop; its chunks per second over the last line it printed."""
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    done, seconds = out.strip().splitlines()[-1].split() if out.strip() else ("0", "1")
    return int(done) / float(seconds)


def decode_speed(gguf: Path, settings, threads: int, rounds: int, max_tokens: int, words: int) -> float:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = settings.llm_context_tokens
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    engine = xllamacpp.Server(params)
    raw_round(engine, user_prompt(-3, 20), 4)
    speeds = [raw_round(engine, user_prompt(100 + threads * 10 + r, words), max_tokens)[1] for r in range(rounds)]
    del engine
    return statistics.median(speeds)


def threads_table(gguf: Path, settings, thread_counts: list[int], rounds: int, max_tokens: int,
                  words: int) -> None:
    print("\n| engine threads | decode tok/s alone | decode tok/s beside an ingest | beside / alone | "
          "ingest chunks/s meanwhile |")
    print("|---:|---:|---:|---:|---:|")
    for threads in thread_counts:
        alone = decode_speed(gguf, settings, threads, rounds, max_tokens, words)
        ingest = start_ingest()
        try:
            time.sleep(3)  # the encoder is loaded and busy
            beside = decode_speed(gguf, settings, threads, rounds, max_tokens, words)
        finally:
            chunks_per_s = stop_ingest(ingest)
        print(f"| {threads} | {alone:.1f} | {beside:.1f} | {beside / alone:.2f}x | {chunks_per_s:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-words", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--transformers-tokens", type=int, default=16)
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--threads", default="", help="Comma-separated thread counts for the decode-beside-ingest "
                                                      "table (e.g. 1,2); empty: skip it")
    args = parser.parse_args()
    s = get_settings()
    import xllamacpp

    gguf = ensure_gguf(s)
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = s.llm_context_tokens
    params.cpuparams.n_threads = s.llm_engine_threads
    params.cpuparams_batch.n_threads = s.llm_engine_threads
    engine = xllamacpp.Server(params)
    client = OpenAI(base_url=s.llm_base_url, api_key=s.llm_api_key, max_retries=0, timeout=600)
    served_round(client, s.llm_model, user_prompt(-1, 20), 4)  # warm both
    raw_round(engine, user_prompt(-2, 20), 4)

    rows: dict[str, list[tuple[float, float, int, int]]] = {"raw": [], "served": []}
    for r in range(args.rounds):
        rows["raw"].append(raw_round(engine, user_prompt(2 * r, args.prompt_words), args.max_tokens))
        rows["served"].append(served_round(client, s.llm_model, user_prompt(2 * r + 1, args.prompt_words),
                                           args.max_tokens))
        print(f"round {r + 1}: raw {rows['raw'][-1][:2]}, served {rows['served'][-1][:2]}", flush=True)
    del engine
    if not args.no_transformers:
        rows["transformers"] = [transformers_round(gguf, user_prompt(99, args.prompt_words),
                                                   args.transformers_tokens, s.llm_engine_threads)]

    raw_prefill = statistics.median(r[0] for r in rows["raw"])
    raw_decode = statistics.median(r[1] for r in rows["raw"])
    print(f"\n{s.llm_model} ({gguf.name}), {s.llm_engine_threads} threads, {args.rounds} rounds, medians\n")
    print("| run | prompt tokens | new tokens | prefill tok/s | decode tok/s | prefill vs raw | decode vs raw |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, results in rows.items():
        prefill = statistics.median(r[0] for r in results)
        decode = statistics.median(r[1] for r in results)
        print(f"| {name} | {results[0][2]} | {results[0][3]} | {prefill:.1f} | {decode:.1f} | "
              f"{prefill / raw_prefill:.2f}x | {decode / raw_decode:.2f}x |")
    if args.threads:
        threads_table(gguf, s, [int(t) for t in args.threads.split(",")], args.rounds, args.max_tokens,
                      args.prompt_words)


if __name__ == "__main__":
    main()
