"""LUNA16 on the challenge layout: subset<k>/<seriesuid>.mhd + .raw, seg-lungs-LUNA16/<seriesuid>.mhd."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures_volumes import decode, random_volume, write_metaimage

from lvmmed_hf.data.builder import SourceDataMissingError

# real series UIDs from LVM-Med's 0_SSL_LUNA2016_Lung list
P = "1.3.6.1.4.1.14519.5.2.1.6279.6001."
UIDS = [
    P + s
    for s in (
        "100530488926682752765845212286",
        "100620385482151095585000946543",
        "100621383016233746780170740405",
        "100684836163890911914061745866",
        "102133688497886810253331438797",
    )
]


def lung_mask():
    z, y, x = np.indices((3, 16, 16))
    return np.array([0, 3, 4, 5], dtype=np.uint8)[(x + y + z) % 4]


def make_luna(root, with_masks=True):
    for n, uid in enumerate(UIDS):
        write_metaimage(root / f"subset{n % 2}" / f"{uid}.mhd", random_volume(n, shape=(3, 16, 16)))
        if with_masks and n != 4:
            write_metaimage(root / "seg-lungs-LUNA16" / f"{uid}.mhd", lung_mask())
    (root / "annotations.csv").write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n")


def test_luna_sample_and_masks(tmp_path, prepare_load):
    make_luna(tmp_path / "raw")
    assert (tmp_path / "raw" / "subset0" / f"{UIDS[0]}.raw").is_file()  # header + raw data pair
    ds, report = prepare_load("luna16", tmp_path / "raw", tmp_path / "out", sample_fraction=1.0)
    assert report.records_found == 5 and len(ds) == 15 and set(ds["modality"]) == {"CT"}
    for ex in ds:
        if ex["patient_id"] == UIDS[4]:
            assert ex["mask"] is None
            continue
        # identity direction, +z spacing: stored slice k is array[k] (rows y, columns x)
        np.testing.assert_array_equal(decode(ex["mask"]), lung_mask()[ex["slice_index"]])
    ds, _ = prepare_load("luna16", tmp_path / "raw", tmp_path / "out20")
    assert len(set(ds["patient_id"])) == 1 and len(ds) == 3


def test_luna_file_list_mhd_raw_pairs(tmp_path, prepare_load):
    make_luna(tmp_path / "LUNA16", with_masks=False)
    lst = tmp_path / "0_SSL_LUNA2016_Lung.txt"
    lst.write_text("\n".join(f"{u}.{ext}" for u in (UIDS[1], UIDS[3]) for ext in ("mhd", "raw")))
    ds, report = prepare_load("luna16", tmp_path, tmp_path / "out", file_list=str(lst))  # one folder deeper
    assert sorted(set(ds["patient_id"])) == sorted([UIDS[1], UIDS[3]]) and len(ds) == 6
    assert report.list_entries == 2 and report.list_entries_unmatched == 0
    assert all(m is None for m in ds["mask"])


def test_luna_missing(tmp_path, prepare_load):
    (tmp_path / "raw" / "seg-lungs-LUNA16").mkdir(parents=True)
    write_metaimage(tmp_path / "raw" / "seg-lungs-LUNA16" / f"{UIDS[0]}.mhd", lung_mask())
    with pytest.raises(SourceDataMissingError, match=r"subset<0-9>"):
        prepare_load("luna16", tmp_path / "raw", tmp_path / "out")
