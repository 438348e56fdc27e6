"""MitoEM on the challenge zips' layout: <stack>/im/im<zzzz>.png +
<stack>/mito-{train,val}-v2/seg<zzzz>.tif."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from _fixtures_volumes import decode, random_slice, write_png

from lvmmed_hf.data.builder import SourceDataMissingError

Z = [0, 150, 399, 400, 401, 429, 430, 650]  # sections of several 100-section slabs


def make_mitoem(root, stacks=("MitoEM-H", "MitoEM-R")):
    for s, stack in enumerate(stacks):
        for z in Z:
            write_png(root / stack / "im" / f"im{z:04d}.png", random_slice(1000 * s + z))
            if z < 500:
                seg = (np.arange(24 * 24).reshape(24, 24) * 97 + z).astype(np.uint32)  # ids up to 56k
                part = "mito-train-v2" if z < 400 else "mito-val-v2"
                (root / stack / part).mkdir(parents=True, exist_ok=True)
                tifffile.imwrite(root / stack / part / f"seg{z:04d}.tif", seg)


def test_mitoem_all_sections_masks(tmp_path, prepare_load):
    make_mitoem(tmp_path / "raw")
    ds, report = prepare_load("mitoem", tmp_path / "raw", tmp_path / "out", sample_fraction=1.0)
    assert report.records_found == 16 and len(ds) == 16
    assert set(ds["modality"]) == {"electron microscopy"} and set(ds["volume_id"]) == {"MitoEM-H", "MitoEM-R"}
    for ex in ds:
        z = ex["slice_index"]
        assert ex["original_path"] == f"{ex['volume_id']}/im/im{z:04d}.png"
        assert ex["patient_id"] == f"{ex['volume_id']}/z{z // 100 * 100:04d}-{z // 100 * 100 + 99:04d}"
        s = 0 if ex["volume_id"] == "MitoEM-H" else 1
        np.testing.assert_array_equal(decode(ex["image"]), random_slice(1000 * s + z))
        if z < 500:
            np.testing.assert_array_equal(decode(ex["mask"]), np.arange(24 * 24).reshape(24, 24) * 97 + z)
        else:
            assert ex["mask"] is None  # test sections have no public labels


def test_mitoem_sample_by_slab_and_list(tmp_path, prepare_load):
    make_mitoem(tmp_path / "raw")
    ds, _ = prepare_load("mitoem", tmp_path / "raw", tmp_path / "out")
    # 10 slabs (2 stacks x z0000, z0100, z0300, z0400, z0600) -> round(0.2 * 10) = 2 kept, each whole
    slabs = {
        f"{st}/z{z // 100 * 100:04d}-{z // 100 * 100 + 99:04d}" for st in ("MitoEM-H", "MitoEM-R") for z in Z
    }
    kept = set(ds["patient_id"])
    assert len(kept) == round(0.2 * len(slabs)) and kept <= slabs
    assert len(ds) == sum(
        1
        for st in ("MitoEM-H", "MitoEM-R")
        for z in Z
        if f"{st}/z{z // 100 * 100:04d}-{z // 100 * 100 + 99:04d}" in kept
    )

    lst = tmp_path / "MitoEM_SEM_Cells.txt"
    lst.write_text("\n".join(f"im{z:04d}" for z in range(400, 430)))  # LVM-Med's list: im0400 .. im0429
    ds, report = prepare_load("mitoem", tmp_path / "raw", tmp_path / "out_list", file_list=str(lst))
    # stems do not name the stack: the listed sections of both stacks are kept
    assert sorted(zip(ds["volume_id"], ds["slice_index"])) == [
        (st, z) for st in ("MitoEM-H", "MitoEM-R") for z in (400, 401, 429)
    ]
    assert report.list_entries == 30 and report.list_entries_unmatched == 27


def test_mitoem_single_stack_and_missing(tmp_path, prepare_load):
    for z in (0, 1):
        write_png(tmp_path / "EM30-R" / "im" / f"im{z:04d}.png", random_slice(z))
    ds, _ = prepare_load("mitoem", tmp_path / "EM30-R", tmp_path / "out", sample_fraction=1.0)
    assert set(ds["volume_id"]) == {"EM30-R"} and sorted(ds["slice_index"]) == [0, 1]
    write_png(tmp_path / "wrong" / "slices" / "im0000.png", random_slice(0))
    with pytest.raises(SourceDataMissingError, match=r"<stack>/im/im<zzzz>.png"):
        prepare_load("mitoem", tmp_path / "wrong", tmp_path / "o2")
