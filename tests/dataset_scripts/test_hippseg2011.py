"""Hippocampus segmentation 2011 (NITRC hippseg_2011): Analyze HFH_<nnn>.hdr/.img (+ _Hipp_Labels)."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures_volumes import decode, label_volume, random_volume, write_analyze

from lvmmed_hf.data.builder import SourceDataMissingError

SUBJECTS = ["HFH_001", "HFH_005", "HFH_008", "HFH_014", "HFH_025", "HFH_031", "HFH_040", "HFH_050"]


def make_hipp(root):
    for n, s in enumerate(SUBJECTS):
        folder = root / ("segmented" if n < 5 else "unsegmented")
        write_analyze(folder / f"{s}.hdr", random_volume(n, low=0, high=800))
        if n < 5:
            write_analyze(folder / f"{s}_Hipp_Labels.hdr", label_volume())


def test_hippseg_all_and_sample(tmp_path, prepare_load):
    make_hipp(tmp_path / "raw")
    assert (tmp_path / "raw" / "segmented" / "HFH_001.img").is_file()
    ds, report = prepare_load("hippseg2011", tmp_path / "raw", tmp_path / "out", sample_fraction=1.0)
    assert report.records_found == 8 and len(ds) == 24 and set(ds["modality"]) == {"MRI"}
    for ex in ds:
        if ex["patient_id"] in SUBJECTS[5:]:
            assert ex["mask"] is None
        else:
            # Analyze has no orientation: nibabel's default affine is diag(-1, 1, 1) in RAS (x
            # stored radiologically), i.e. +x (left) and -y in LPS, so stored rows walk j backwards
            # and columns walk i forwards: mask[r, c] = label[c, n_j - 1 - r, k]
            np.testing.assert_array_equal(decode(ex["mask"]), label_volume()[:, ::-1, ex["slice_index"]].T)
    ds, _ = prepare_load("hippseg2011", tmp_path / "raw", tmp_path / "out20")
    assert len(set(ds["patient_id"])) == 2 and len(ds) == 6  # round(0.2 * 8) subjects


def test_hippseg_file_list(tmp_path, prepare_load):
    make_hipp(tmp_path / "raw")
    lst = tmp_path / "Hippseg2011_MRI_Brain.txt"
    lst.write_text(
        "HFH_008.hdr\nHFH_008.img\nHFH_005.hdr\nHFH_005.img\nHFH_014.hdr\nHFH_014.img\nHFH_025.hdr\nHFH_025.img"
    )
    ds, report = prepare_load("hippseg2011", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert sorted(set(ds["patient_id"])) == ["HFH_005", "HFH_008", "HFH_014", "HFH_025"] and len(ds) == 12
    assert report.list_entries == 4 and report.list_entries_unmatched == 0


def test_hippseg_header_without_data(tmp_path, prepare_load):
    write_analyze(tmp_path / "raw" / "HFH_001.hdr", random_volume(0))
    (tmp_path / "raw" / "HFH_001.img").unlink()
    with pytest.raises(SourceDataMissingError, match="HFH_<nnn>.hdr"):
        prepare_load("hippseg2011", tmp_path / "raw", tmp_path / "out")
