"""Shared fixtures: the embedded corpus prepared once per test session (all xdist workers)."""

from pathlib import Path

import pytest
from filelock import FileLock


@pytest.fixture(scope="session")
def embedded_corpus(run_tmp) -> Path:
    """The embedded corpus (real images from installed packages) prepared as Parquet."""
    from lvmmed_hf.data.embedded import prepare_embedded

    root = run_tmp  # shared by the xdist workers of one run
    out = root / "embedded_corpus"
    with FileLock(str(root / "embedded_corpus.lock")):
        if not (out / ".complete").exists():
            prepare_embedded(out)
            (out / ".complete").write_text("ok")
    return out
