"""Shared fixtures: the embedded corpus prepared once per test session (all xdist workers)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[2]
PRETRAIN = REPO / "training" / "pretrain.py"


@pytest.fixture(scope="session")
def embedded_corpus(tmp_path_factory) -> Path:
    """The embedded corpus (real images from installed packages) prepared as Parquet."""
    from lvmmed_hf.data.embedded import prepare_embedded

    root = tmp_path_factory.getbasetemp().parent  # shared by the xdist workers of one run
    out = root / "embedded_corpus"
    with FileLock(str(root / "embedded_corpus.lock")):
        if not (out / ".complete").exists():
            prepare_embedded(out)
            (out / ".complete").write_text("ok")
    return out


def run_entry_point(args: list[str], launcher: list[str] | None = None, timeout: int = 300, env_extra=None):
    """Run training/pretrain.py (optionally under a launcher) in a fresh process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.update(env_extra or {})
    cmd = (launcher or [sys.executable]) + [str(PRETRAIN)] + args
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
