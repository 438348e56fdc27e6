"""PatchCamelyon: the official training HDF5 (key x) read in frame ranges, labels from the _y file."""

import sys

import h5py
import numpy as np
import pytest
from _fixtures_images import assert_base_columns, assert_missing, write_list

from lvmmed_hf.data.builder import FileListError
from lvmmed_hf.data.prepare import prepare_source
from lvmmed_hf.data.registry import get_source

X = "camelyonpatch_level_2_split_train_x.h5"
Y = "camelyonpatch_level_2_split_train_y.h5"


def make(root, n=10, with_y=True):
    root.mkdir(parents=True)
    x = np.random.default_rng(0).integers(0, 256, size=(n, 12, 12, 3), dtype=np.uint8)
    y = (np.arange(n) % 3 == 0).astype(np.uint8).reshape(n, 1, 1, 1)
    with h5py.File(root / X, "w") as f:
        f["x"] = x
    if with_y:
        with h5py.File(root / Y, "w") as f:
            f["y"] = y
    (root / "camelyonpatch_level_2_split_valid_x.h5").write_bytes(b"")  # other splits are ignored
    return x, y.reshape(-1)


@pytest.fixture
def small_ranges(monkeypatch):
    module = sys.modules[get_source("patchcamelyon").__module__]
    monkeypatch.setattr(module, "FRAMES_PER_RECORD", 4)


def test_frames_and_labels_across_ranges(tmp_path, prepare_load, small_ranges):
    x, y = make(tmp_path / "raw")
    ds, report = prepare_load("patchcamelyon", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "patchcamelyon", "histopathology", "lymph node")
    assert report.records_found == 3 and len(ds) == 10  # ranges [0,4) [4,8) [8,10)
    assert ds.features["label"].names == ["no_tumor", "tumor"]
    for ex in ds:
        start = int(ex["volume_id"].rsplit("@", 1)[1])
        frame = ex["slice_index"]  # the frame number in the whole file
        assert start <= frame < start + 4
        np.testing.assert_array_equal(np.asarray(ex["image"]), x[frame])
        assert ex["label"] == y[frame]
        assert ex["original_path"] == X


def test_shards_split_the_file(tmp_path, prepare_load, monkeypatch):
    module = sys.modules[get_source("patchcamelyon").__module__]
    monkeypatch.setattr(module, "FRAMES_PER_RECORD", 1)  # 10 records, 8 per shard -> 2 shards
    x, y = make(tmp_path / "raw")
    ds, _ = prepare_load("patchcamelyon", tmp_path / "raw", tmp_path / "out")
    assert len(list((tmp_path / "out" / "patchcamelyon").glob("train-*.parquet"))) == 2
    assert sorted(int(v.rsplit("@", 1)[1]) for v in ds["volume_id"]) == list(range(10))
    assert [ex["label"] for ex in sorted(ds, key=lambda e: int(e["volume_id"].rsplit("@", 1)[1]))] == list(y)


def test_without_labels_and_file_list(tmp_path, prepare_load):
    make(tmp_path / "raw", n=5, with_y=False)
    lst = write_list(tmp_path / "l.txt", [X])  # LVM-Med's list names the training file
    ds, _ = prepare_load("patchcamelyon", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert len(ds) == 5 and set(ds["label"]) == {None}
    with pytest.raises(FileListError):
        prepare_source(
            "patchcamelyon",
            tmp_path / "raw",
            tmp_path / "out2",
            file_list=str(write_list(tmp_path / "m.txt", ["other.h5"])),
        )


def test_gzipped_or_missing(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / (X + ".gz")).write_bytes(b"\x1f\x8b")
    assert_missing("patchcamelyon", tmp_path / "raw", tmp_path / "out", "gunzip")
    (tmp_path / "raw2").mkdir()
    (tmp_path / "raw2" / "readme.txt").write_text("x")
    assert_missing("patchcamelyon", tmp_path / "raw2", tmp_path / "out", X)
