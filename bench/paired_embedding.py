"""What pairing the CJK model costs at ingestion: chunks/s of the default paired embedder against
all-MiniLM-L6-v2 alone (the baseline, `RAGWAY_CJK_EMBEDDING_MODEL=`), side by side in one process.

    .venv/bin/python bench/paired_embedding.py [--n 256]

English chunks: Wikipedia paragraphs (wikipedia-en-2015); Chinese chunks: CMRC 2018 dev paragraphs
(cmrc2018/beir-dev), both from RAGWAY_DATA_DIR (default ../shared/data), split as ingestion splits
them (`chunk_size`), the first N chunks of each. Each embedder encodes each set twice, alternating
with the other; the faster run counts. An English chunk costs the paired embedder one MiniLM encoding
(its CJK half is left zero); a Chinese chunk costs it MiniLM and multilingual-e5-small."""

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
    paired = get_embedder(settings if settings.pairs_cjk_embedder
                          else settings.model_copy(update={"cjk_embedding_model": "multilingual-e5-small"}))
    for embedder in (alone, paired):
        embedder.embed(sets["Chinese (CMRC 2018)"][:8])  # warm up: load the sessions
    print(f"| chunks ({settings.chunk_size} characters) | n | {settings.main_embedding_model_id} alone, chunks/s "
          f"| paired with the CJK model, chunks/s | paired / alone |\n|---|---:|---:|---:|---:|")
    for name, texts in sets.items():
        rates = {"alone": [], "paired": []}
        for _ in range(2):
            rates["alone"].append(best_rate(alone, texts))
            rates["paired"].append(best_rate(paired, texts))
        a, p = max(rates["alone"]), max(rates["paired"])
        print(f"| {name} | {len(texts)} | {a:.1f} | {p:.1f} | {p / a:.2f}x |")


if __name__ == "__main__":
    main()
