#!/usr/bin/env bash
# One-GPU check of graph-matching pretraining, < 10 minutes on one GPU; writes one Markdown table.
#   bash bench/gpu_check.sh                      # GPU, paper sizes -> gpu_check.md
#   bash bench/gpu_check.sh --tiny --out t.md    # CPU, tiny sizes (CI runs this)
# Options: python bench/gpu_check.py --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" "$here/gpu_check.py" "$@"
