"""FastChat's model worker (or vLLM worker), after making sure the model folder exists.

`ragway stack up` converts the default model before it starts anything; a container starts the
worker alone, on a model volume that may still be empty, so the worker converts it first (once:
later starts find the folder). Usage: `python -m ragway.fastchat_worker model_worker|vllm_worker`
followed by the worker's own flags (`ragway run fastchat-worker` builds them)."""

from __future__ import annotations

import logging
import runpy
import sys

from ragway.llm_model import ensure_model_folder
from ragway.settings import get_settings

WORKERS = {"model_worker": "fastchat.serve.model_worker", "vllm_worker": "fastchat.serve.vllm_worker"}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in WORKERS:
        raise SystemExit(f"usage: python -m ragway.fastchat_worker {{{'|'.join(WORKERS)}}} [worker flags]")
    logging.basicConfig(level=logging.INFO)
    ensure_model_folder(get_settings())
    module = WORKERS[args[0]]
    sys.argv = [module, *args[1:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
