"""bench/gpu_check.sh runs end to end with tiny sizes on the CPU and writes its Markdown table
(so the GPU check cannot rot between GPU runs). Values are machine-dependent: only the table's
rows and their form are checked, plus the two facts a value must satisfy."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_runs_with_tiny_sizes_on_cpu(tmp_path, embedded_corpus):
    out = tmp_path / "check.md"
    result = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_check.sh"), "--tiny", "--device", "cpu", "--out", str(out)]
        + ["--embedded_dir", str(embedded_corpus)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    labels = [row.split(" | ")[0] for row in rows]
    for needle in (
        "forward+backward",
        "graph-matching loss",
        "loss share",
        "solver graphs/s",
        "tiny_cnn inference",
        "tiny_vit inference",
        "peak memory",
        "pretraining tiny_cnn",
    ):
        assert any(needle in label for label in labels), (needle, table)
    share = re.search(r"loss share.*\| ([0-9.]+)% \|", table)
    assert share and float(share.group(1)) > 0
    steps = re.search(r"\| (\d+) steps in", table)
    assert steps and int(steps.group(1)) >= 1
