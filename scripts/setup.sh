#!/usr/bin/env bash
# Create ./.venv with lvmmed-hf and everything its demo and tests need.
# LVMMED_TORCH overrides the torch requirement (default: the CPU build of torch 2.13.0 these
# machines carry on local disk; on a GPU machine use e.g. LVMMED_TORCH="torch>=2.4").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "${LVMMED_TORCH:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[all]"
