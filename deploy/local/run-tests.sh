#!/usr/bin/env bash
# Install (LibreOffice too, where root with apt can) and run the whole test suite against real
# Milvus, Redis, Celery and FastChat processes (the tests start the local stack and stop it at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/install.sh
bash deploy/local/install-system-tools.sh
.venv/bin/ruff check .
.venv/bin/lint-imports  # who may import whom: the contracts in pyproject.toml
exec .venv/bin/python -m pytest "$@"
