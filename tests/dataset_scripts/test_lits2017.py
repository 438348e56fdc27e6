"""LiTS 2017 on the CodaLab layout (Training Batch 1/2) and the Kaggle mirror
(volume_pt*/ + segmentations/)."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures_volumes import decode, expected_axial_slice, label_volume, random_volume, write_nifti

from lvmmed_hf.data.builder import SourceDataMissingError


def make_codalab(root, numbers=(0, 7, 13, 27, 35, 106, 110, 119, 121, 129)):
    for n in numbers:
        batch = root / ("Training Batch 1" if n <= 27 else "Training Batch 2")
        write_nifti(batch / f"volume-{n}.nii", random_volume(n))
        write_nifti(batch / f"segmentation-{n}.nii", label_volume())
    write_nifti(root / "Test Batch" / "test-volume-0.nii", random_volume(500))  # not training data
    return numbers


def test_lits_sample_and_masks(tmp_path, prepare_load):
    numbers = make_codalab(tmp_path / "raw")
    ds, report = prepare_load("lits2017", tmp_path / "raw", tmp_path / "out")
    assert report.records_found == len(numbers)
    assert len(set(ds["patient_id"])) == 2 and len(ds) == 6  # round(0.2 * 10) volumes, whole
    assert set(ds["modality"]) == {"CT"}
    for ex in ds:
        np.testing.assert_array_equal(
            decode(ex["mask"]), expected_axial_slice(label_volume(), ex["slice_index"])
        )


def test_lits_file_list_and_kaggle_layout(tmp_path, prepare_load):
    raw = tmp_path / "raw"
    for n in (13, 50, 106):
        write_nifti(raw / "volume_pt1" / f"volume-{n}.nii", random_volume(n))
        write_nifti(raw / "segmentations" / f"segmentation-{n}.nii", label_volume())
    write_nifti(raw / "volume_pt5" / "volume-130.nii", random_volume(130))  # no segmentation: mask None
    lst = tmp_path / "0_SSL_LiTS2017_Liver.txt"
    lst.write_text("volume-106\nvolume-13\nvolume-130")  # the real list's format: stems, no final newline
    ds, report = prepare_load("lits2017", raw, tmp_path / "out", file_list=str(lst))
    assert sorted(set(ds["patient_id"])) == ["volume-106", "volume-13", "volume-130"]
    assert len(ds) == 9 and report.list_entries_unmatched == 0
    for ex in ds:
        assert (ex["mask"] is None) == (ex["patient_id"] == "volume-130")


def test_lits_missing(tmp_path, prepare_load):
    write_nifti(tmp_path / "raw" / "Test Batch" / "test-volume-1.nii", random_volume(1))
    with pytest.raises(SourceDataMissingError, match="volume-<n>.nii"):
        prepare_load("lits2017", tmp_path / "raw", tmp_path / "out")
