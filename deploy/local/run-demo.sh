#!/usr/bin/env bash
# The main job on the embedded default stack (no Docker): install, bring the local stack up,
# ingest the sample corpus, ask a question and print the answer with its sources.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/install.sh
exec .venv/bin/ragway demo "$@"
