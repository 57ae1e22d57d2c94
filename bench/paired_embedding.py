"""What pairing the CJK model costs at ingestion: chunks/s of the default paired embedder against
all-MiniLM-L6-v2 alone (the baseline, `RAGWAY_CJK_EMBEDDING_MODEL=`), side by side in one process.

    .venv/bin/python bench/paired_embedding.py [--n 256]

English chunks: Wikipedia paragraphs (wikipedia-en-2015); Chinese chunks: CMRC 2018 dev paragraphs
(cmrc2018/beir-dev), both from RAGWAY_DATA_DIR (default ../shared/data), split as ingestion splits
them (`chunk_size`), the first N chunks of each. Each embedder encodes each set twice, alternating
with the other; the faster run counts. An English chunk costs the paired embedder one MiniLM encoding
(its CJK half is left zero); a Chinese chunk costs it MiniLM and multilingual-e5-small. The last columns
encode every chunk with both (`RAGWAY_MULTILINGUAL_CHUNKS=all`, so Chinese questions read English chunks)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import data_root, paragraphs  # noqa: E402
from ragway.embedder import get_embedder  # noqa: E402
from ragway.records import Section  # noqa: E402
from ragway.settings import get_settings  # noqa: E402
from ragway.splitter import Splitter  # noqa: E402


def chunks_of(texts: list[str], n: int, splitter: Splitter) -> list[str]:
    out: list[str] = []
    for text in texts:
        out += [piece.text for piece in splitter.split([Section(text=text)])]
        if len(out) >= n:
            break
    return out[:n]


def chinese_paragraphs() -> list[str]:
    path = data_root() / "cmrc2018" / "beir-dev" / "corpus.jsonl"
    if not path.exists():
        sys.exit(f"{path} is absent: set RAGWAY_DATA_DIR to the shared evaluation data")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def best_rate(embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=256, help="chunks of each language")
    args = parser.parse_args()
    settings = get_settings()
    splitter = Splitter(settings)
    sets = {"English (Wikipedia)": chunks_of([p["text"] for p in paragraphs(args.n * 2)], args.n, splitter),
            "Chinese (CMRC 2018)": chunks_of(chinese_paragraphs(), args.n, splitter)}
    alone = get_embedder(settings.model_copy(update={"cjk_embedding_model": ""}))
    pairing = settings if settings.pairs_cjk_embedder else settings.model_copy(
        update={"cjk_embedding_model": "multilingual-e5-small"})
    embedders = {"alone": alone,
                 "paired": get_embedder(pairing.model_copy(update={"multilingual_chunks": "cjk"})),
                 "every chunk": get_embedder(pairing.model_copy(update={"multilingual_chunks": "all"}))}
    for embedder in embedders.values():
        embedder.embed(sets["Chinese (CMRC 2018)"][:8])  # warm up: load the sessions
    print(f"| chunks ({settings.chunk_size} characters) | n | {settings.main_embedding_model_id} alone, chunks/s "
          f"| paired with the CJK model (CJK chunks), chunks/s | paired / alone "
          f"| paired, every chunk (`RAGWAY_MULTILINGUAL_CHUNKS=all`), chunks/s | every chunk / alone |"
          f"\n|---|---:|---:|---:|---:|---:|---:|")
    for name, texts in sets.items():
        rates: dict[str, list[float]] = {kind: [] for kind in embedders}
        for _ in range(2):
            for kind, embedder in embedders.items():
                rates[kind].append(best_rate(embedder, texts))
        a, p, e = (max(rates[kind]) for kind in embedders)
        print(f"| {name} | {len(texts)} | {a:.1f} | {p:.1f} | {p / a:.2f}x | {e:.1f} | {e / a:.2f}x |")


if __name__ == "__main__":
    main()
