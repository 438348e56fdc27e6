"""Shared helpers for the per-source builder tests.

Each test writes a tiny fixture that reproduces a dataset's real layout and file names, then
prepares it through the real pipeline (builder -> Parquet + dataset card) and loads it back with
``datasets.load_dataset``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from PIL import Image

from lvmmed_hf.data.prepare import prepare_source


def write_png(path: Path, array: np.ndarray) -> Path:
    """Write an 8-bit/16-bit grayscale or 8-bit RGB PNG (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def random_image(seed: int, shape: tuple[int, ...] = (32, 32, 3), dtype=np.uint8) -> np.ndarray:
    """Non-constant pixels (constant images are dropped as empty slices)."""
    rng = np.random.default_rng(seed)
    high = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    return rng.integers(0, high, size=shape, endpoint=True).astype(dtype)


def prepare_and_load(source: str, data_dir: Path, out_dir: Path, **options: Any):
    """Prepare ``source`` from ``data_dir`` into ``out_dir``; return (train split, report)."""
    report = prepare_source(source, data_dir, out_dir, **options)
    # A cache folder per output folder: datasets' cache key for a local folder can collide between
    # runs whose folders share a base name, and would hand back an earlier run's examples.
    ds = datasets.load_dataset(
        str(out_dir), source, split="train", cache_dir=str(Path(out_dir).parent / "hf_cache")
    )
    return ds, report


@pytest.fixture
def prepare_load():
    return prepare_and_load


@pytest.fixture
def list_tmp(tmp_path):
    """A scratch folder for the list-coverage fixture trees (tens of thousands of tiny files):
    in memory (``/dev/shm``) where the machine has room there, else under ``tmp_path``; removed
    afterwards."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    # each tiny file takes a 4 KiB page there: 100,000 files need about 0.4 GiB (containers often
    # mount a 64 MiB /dev/shm, which is then skipped for tmp_path)
    in_memory = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 2**30
    d = Path(tempfile.mkdtemp(prefix="lvmmed-lists-", dir=shm if in_memory else tmp_path))
    try:
        yield d
    finally:  # not left to pytest's tmp_path retention: these trees hold up to 10^5 files
        shutil.rmtree(d, ignore_errors=True)
