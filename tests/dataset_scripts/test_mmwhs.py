"""MM-WHS 2017 CT and MRI on the training zips' layout: {ct,mr}_train/<m>_train_<id>_{image,label}.nii.gz."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures_volumes import decode, expected_axial_slice, random_volume, write_nifti

from lvmmed_hf.data.builder import FileListError, SourceDataMissingError

IDS = [1005, 1008, 1009, 1014, 1020]  # from LVM-Med's MMWHS lists
HEART_LABELS = np.array([0, 205, 420, 500, 550, 600, 820, 850], dtype=np.uint16)


def heart_label():
    i, j, k = np.indices((16, 16, 3))
    return HEART_LABELS[(i + 2 * j + k) % 8]


def make_mmwhs(root, m, suffix=".nii.gz"):
    for n, i in enumerate(IDS):
        write_nifti(
            root / f"{m}_train" / f"{m}_train_{i}_image{suffix}",
            random_volume(n, low=0, high=1500) if m == "mr" else random_volume(n),
        )
        write_nifti(root / f"{m}_train" / f"{m}_train_{i}_label{suffix}", heart_label())
    write_nifti(root / f"{m}_test" / f"{m}_test_2001_image{suffix}", random_volume(77))


@pytest.mark.parametrize(("source", "m", "modality"), [("mmwhs_ct", "ct", "CT"), ("mmwhs_mri", "mr", "MRI")])
def test_mmwhs_official_train_masks_and_list(source, m, modality, tmp_path, prepare_load):
    raw = tmp_path / "raw"
    make_mmwhs(raw, m)
    make_mmwhs(raw, "mr" if m == "ct" else "ct")  # the other modality in the same folder is not read
    ds, report = prepare_load(source, raw, tmp_path / "out")
    assert report.records_found == 5 and len(ds) == 15  # official training set, whole
    assert sorted(set(ds["patient_id"])) == [f"{m}_train_{i}" for i in IDS]
    assert set(ds["modality"]) == {modality}
    for ex in ds:
        mask = decode(ex["mask"])
        assert mask.dtype == np.uint16  # label values up to 850
        np.testing.assert_array_equal(mask, expected_axial_slice(heart_label(), ex["slice_index"]))

    # LVM-Med's list format: .nii names (the zips hold .nii.gz), image and label lines mixed
    lst = tmp_path / "list.txt"
    lst.write_text(
        f"{m}_train_1005_label.nii\n{m}_train_1005_image.nii\n{m}_train_1020_image.nii\n{m}_train_1020_label.nii\n"
    )
    ds, report = prepare_load(source, raw / f"{m}_train", tmp_path / "out_list", file_list=str(lst))
    assert sorted(set(ds["patient_id"])) == [f"{m}_train_1005", f"{m}_train_1020"] and len(ds) == 6
    assert report.list_entries == 2 and report.list_entries_unmatched == 0


def test_mmwhs_uncompressed_and_errors(tmp_path, prepare_load):
    make_mmwhs(tmp_path / "raw", "ct", suffix=".nii")
    ds, _ = prepare_load("mmwhs_ct", tmp_path / "raw", tmp_path / "out")
    assert len(ds) == 15
    lst = tmp_path / "labels_only.txt"
    lst.write_text("ct_train_1005_label.nii\n")
    with pytest.raises(FileListError, match="label"):
        prepare_load("mmwhs_ct", tmp_path / "raw", tmp_path / "o2", file_list=str(lst))
    with pytest.raises(SourceDataMissingError, match="mr_train"):
        prepare_load("mmwhs_mri", tmp_path / "raw", tmp_path / "o3")
