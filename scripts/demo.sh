#!/usr/bin/env bash
# Sets up .venv, then runs the whole pipeline on a synthetic DFDC-layout corpus with embedded local Ray.
# Outputs go to ./demo (or the folder given as the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/dfprep demo "${1:-demo}"
