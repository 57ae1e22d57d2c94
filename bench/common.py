"""What the benchmarks share: the Wikipedia paragraphs from the shared data folder."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path


def data_root() -> Path:
    return Path(os.environ.get("RAGWAY_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def data_file() -> Path:
    path = data_root() / "wikipedia-en-2015" / "paragraphs.jsonl.gz"
    if not path.exists():
        sys.exit(f"{path} is absent: set RAGWAY_DATA_DIR to the shared evaluation data")
    return path


def paragraphs(n: int) -> list[dict]:
    out = []
    with gzip.open(data_file(), "rt", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if len(out) >= n:
                break
    return out
