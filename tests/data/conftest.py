"""Fixtures of the data-layer tests (writers in _data_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _data_fixtures import BUILDER_SCRIPT, MIX_SCRIPT, MIX_SIZES, gradient_volume, write_ct_series


@pytest.fixture
def scripts_dir(tmp_path: Path) -> Path:
    d = tmp_path / "scripts"
    d.mkdir()
    (d / "toy_sources.py").write_text(BUILDER_SCRIPT)
    return d


@pytest.fixture
def toy_xray_dir(tmp_path: Path) -> Path:
    """train/{normal,abnormal}/<patient>_<n>.png, 16-bit, 10 patients with 2 images each."""
    from PIL import Image

    root = tmp_path / "raw_xray"
    rng = np.random.default_rng(1)
    for i in range(10):
        cls = "normal" if i % 2 == 0 else "abnormal"
        (root / "train" / cls).mkdir(parents=True, exist_ok=True)
        for j in range(2):
            arr = rng.integers(0, 4096, size=(16, 20)).astype(np.uint16)
            Image.fromarray(arr).save(root / "train" / cls / f"p{i:02d}_{j}.png")
    return root


@pytest.fixture
def toy_ct_dir(tmp_path: Path) -> Path:
    """PATIENT_<nnnn>/<series>/1-<nnn>.dcm: 5 patients, one series of 4 slices each."""
    root = tmp_path / "raw_ct"
    for i in range(5):
        write_ct_series(
            root / f"PATIENT_{i:04d}" / "1.000000-CT-1234",
            gradient_volume((4, 12, 10), seed=i),
            series_uid=f"1.2.826.0.1.3680043.8.498.{100 + i}",
        )
    return root


@pytest.fixture(scope="session")
def mix_corpus(tmp_path_factory) -> Path:
    """A prepared corpus of three sources (40 X-ray, 80 fundus, 120 X-ray images of 4x4 pixels)."""
    from PIL import Image

    from lvmmed_hf.data.prepare import prepare_source

    root = tmp_path_factory.mktemp("mix")
    scripts = root / "scripts"
    scripts.mkdir()
    (scripts / "mix_sources.py").write_text(MIX_SCRIPT)
    rng = np.random.default_rng(0)
    for name, n in MIX_SIZES.items():
        raw = root / "raw" / name
        raw.mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (4, 4)).astype(np.uint8)).save(raw / f"{name}_{i:03d}.png")
        prepare_source(name, raw, root / "corpus", scripts_dirs=[scripts], records_per_shard=20)
    return root / "corpus"


@pytest.fixture(scope="session")
def embedded_corpus(run_tmp) -> tuple[Path, dict]:
    """The embedded corpus, prepared once per session: (folder, reports)."""
    from filelock import FileLock

    from lvmmed_hf.data.embedded import prepare_embedded

    # shared by the pytest-xdist workers of one run: the first prepares, the others find it complete
    shared = run_tmp
    out = shared / "lvmmed_embedded_corpus"
    with FileLock(str(shared / "lvmmed_embedded_corpus.lock")):
        reports = prepare_embedded(out, num_proc=2)
    return out, reports
