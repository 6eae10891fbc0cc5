#!/usr/bin/env bash
# A real two-node Ray cluster on this machine, on loopback: `up` (prints RAY_ADDRESS), `down`, `status`.
# Usage: bash scripts/local_cluster.sh up [--port 6390] [--head-cpus 2] [--node-cpus 2]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m dfprep.localcluster "$@"
