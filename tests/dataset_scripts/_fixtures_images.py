"""Fixture writers and shared checks for the 2D image sources' builder tests (group: 2D images).

Every fixture is written by the tests themselves with the real folder and file names of a
dataset (names taken from LVM-Med's published lists); expectations are computed from what the
fixture wrote, never from the builder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvmmed_hf.data.builder import SourceDataMissingError
from lvmmed_hf.data.prepare import prepare_source


def noise(seed: int, shape: tuple[int, ...] = (20, 24, 3)) -> np.ndarray:
    """Non-constant uint8 pixels (constant images would be dropped as empty)."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def write_image(path: Path, seed: int, shape: tuple[int, ...] = (20, 24, 3)) -> Path:
    """Write noise in the format named by the suffix (PNG/JPEG/BMP via PIL, TIFF via tifffile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = noise(seed, shape)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, arr)
    else:
        Image.fromarray(arr).save(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_list(path: Path, entries: Iterable[str]) -> Path:
    """A file list in LVM-Med's format: one entry per line."""
    return write_text(path, "\n".join(entries) + "\n")


def paths_of(ds) -> list[str]:
    return sorted(ds["original_path"])


def labels_by_path(ds) -> dict[str, str | None]:
    """original_path -> label name (None for a missing label)."""
    feat = ds.features["label"]
    out = {}
    for p, lab in zip(ds["original_path"], ds["label"]):
        if lab is None or (hasattr(feat, "names") and lab < 0):
            out[p] = None
        else:
            out[p] = feat.names[lab] if hasattr(feat, "names") else lab
    return out


def assert_base_columns(ds, source: str, modality: str, organ: str) -> None:
    for col in (
        "image",
        "source",
        "modality",
        "organ",
        "patient_id",
        "volume_id",
        "slice_index",
        "original_path",
        "label",
    ):
        assert col in ds.column_names, col
    assert set(ds["source"]) == {source}
    assert set(ds["modality"]) == {modality}
    assert set(ds["organ"]) == {organ}


def assert_sampled_by_patient(ds, images_per_patient: Mapping[str, int], fraction: float = 0.2) -> None:
    """The kept patients are round(fraction * n) of them and each keeps all its images."""
    kept = Counter(ds["patient_id"])
    n_keep = max(1, int(round(fraction * len(images_per_patient))))
    assert len(kept) == n_keep, (len(kept), n_keep)
    for pid, n in kept.items():
        assert images_per_patient[pid] == n, (pid, n, images_per_patient[pid])


def assert_missing(source: str, data_dir: Path, out_dir: Path, *must_mention: str) -> SourceDataMissingError:
    """Preparing ``data_dir`` raises the builder's SourceDataMissingError naming the layout."""
    with pytest.raises(SourceDataMissingError) as e:
        prepare_source(source, data_dir, out_dir)
    msg = str(e.value)
    assert source in msg
    for m in must_mention:
        assert m in msg, (m, msg)
    return e.value
