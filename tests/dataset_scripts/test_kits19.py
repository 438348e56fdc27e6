"""KiTS19 on the kits19 repository layout: data/case_<nnnnn>/{imaging,segmentation}.nii.gz."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures_volumes import decode, expected_axial_slice, label_volume, random_volume, write_nifti

from lvmmed_hf.data.builder import SourceDataMissingError

TRAIN = ["case_00039", "case_00066", "case_00116", "case_00154", "case_00160"]  # from LVM-Med's list


def make_kits(root):
    for n, case in enumerate(TRAIN):
        write_nifti(root / "data" / case / "imaging.nii.gz", random_volume(n))
        write_nifti(root / "data" / case / "segmentation.nii.gz", label_volume())
    write_nifti(root / "data" / "case_00250" / "imaging.nii.gz", random_volume(250))  # test case
    (root / "data" / "kits.json").write_text("[]")


def test_kits_sample(tmp_path, prepare_load):
    make_kits(tmp_path / "kits19")
    ds, report = prepare_load("kits19", tmp_path / "kits19", tmp_path / "out")
    assert report.records_found == 5  # the training partition only
    (case,) = set(ds["patient_id"])
    assert case in TRAIN and len(ds) == 3 and set(ds["modality"]) == {"CT"}
    for ex in ds:
        np.testing.assert_array_equal(
            decode(ex["mask"]), expected_axial_slice(label_volume(), ex["slice_index"])
        )
        assert ex["original_path"] == f"data/{case}/imaging.nii.gz"


def test_kits_file_list(tmp_path, prepare_load):
    make_kits(tmp_path / "kits19")
    lst = tmp_path / "KiTS19_CT_Kidney.txt"
    lst.write_text(
        "case_00154/imaging.nii.gz\ncase_00154/segmentation.nii.gz\ncase_00039/imaging.nii.gz\ncase_00039/segmentation.nii.gz\n"
    )
    ds, report = prepare_load("kits19", tmp_path / "kits19" / "data", tmp_path / "out", file_list=str(lst))
    assert sorted(set(ds["patient_id"])) == ["case_00039", "case_00154"] and len(ds) == 6
    assert report.list_entries == 2 and report.list_entries_unmatched == 0  # segmentation lines dropped


def test_kits_missing(tmp_path, prepare_load):
    write_nifti(tmp_path / "raw" / "case_00000" / "segmentation.nii.gz", label_volume())
    with pytest.raises(SourceDataMissingError, match="imaging.nii.gz"):
        prepare_load("kits19", tmp_path / "raw", tmp_path / "out")
