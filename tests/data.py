"""The shared evaluation data: read in place (never copied), path from RAGWAY_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("RAGWAY_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


def require(relative: str) -> Path:
    path = data_dir() / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: set RAGWAY_DATA_DIR to the shared evaluation data to run this test")
    return path
