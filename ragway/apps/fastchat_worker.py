"""A FastChat model worker (llama.cpp, transformers or vLLM), after making sure its model is ready.

`ragway stack up` prepares the model before it starts anything; a container starts the worker
alone, on a model volume that may still be empty, so the worker prepares it first: the llama.cpp
worker assembles and verifies the bundled GGUF file (a file whose sha256 is not the pinned one is
refused), the transformers worker converts the bundled SmolLM2 once. Usage:
`python -m ragway.apps.fastchat_worker llamacpp|model_worker|vllm_worker` followed by the worker's own
flags (`ragway run fastchat-worker` builds them)."""

from __future__ import annotations

import logging
import runpy
import sys

from ragway.llm_model import ModelIntegrityError, ModelMissingError, prepare
from ragway.settings import get_settings

WORKERS = {"llamacpp": "ragway.apps.llamacpp_worker", "model_worker": "fastchat.serve.model_worker",
           "vllm_worker": "fastchat.serve.vllm_worker"}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in WORKERS:
        raise SystemExit(f"usage: python -m ragway.apps.fastchat_worker {{{'|'.join(WORKERS)}}} [worker flags]")
    logging.basicConfig(level=logging.INFO)
    try:
        prepare(get_settings())
    except (ModelIntegrityError, ModelMissingError) as exc:
        raise SystemExit(f"fastchat-worker: {exc}") from None
    module = WORKERS[args[0]]
    sys.argv = [module, *args[1:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
