"""The shared volume-source helpers (src/lvmmed_hf/data/layouts/volumes_sources.py)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from _fixtures_volumes import decode, label_volume, random_volume, write_nifti

from lvmmed_hf.data.layouts.volumes_sources import ADNI_FLAT, drop_list_entries, label_to_storable
from lvmmed_hf.data.registry import get_source


def test_label_to_storable():
    assert label_to_storable(np.array([[0, 2], [1, 255]], dtype=np.int16)).dtype == np.uint8
    np.testing.assert_array_equal(
        label_to_storable(np.array([[0.0, 2.0], [1.0, 4.0]], dtype=np.float32)), [[0, 2], [1, 4]]
    )
    assert label_to_storable(np.array([[0, 820]], dtype=np.float64)).dtype == np.uint16
    big = np.array([[0, 70000], [123456, 70000]], dtype=np.uint32)  # instance ids above uint16
    np.testing.assert_array_equal(label_to_storable(big), [[0, 1], [2, 1]])  # renumbered, order kept
    assert label_to_storable(np.array([[0.5, 1.0]])) is None  # not a label image
    assert label_to_storable(np.array([[-1, 1]])) is None


def test_mask_follows_a_permuted_axis_affine(tmp_path, prepare_load):
    """KiTS19 stores volumes (z, y, x) with a permuted affine; the mask must follow the image slice.

    Independent check: the image is the label times 100 HU (inside the CT window), so on every
    stored slice the windowed image and the mask must order the pixels identically.
    """
    lab = label_volume(shape=(4, 16, 16))  # voxel axis 0 is superior-inferior here
    affine = np.array([[0, 0, -0.8, 0], [0, -0.8, 0, 0], [-3.0, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    case = tmp_path / "raw" / "case_00001"
    write_nifti(case / "imaging.nii.gz", (lab.astype(np.int16) * 100), affine)
    write_nifti(case / "segmentation.nii.gz", lab, affine)
    ds, _ = prepare_load("kits19", tmp_path / "raw", tmp_path / "out")
    assert sorted(ds["slice_index"]) == [0, 1, 2, 3]
    for ex in ds:
        img, mask = decode(ex["image"]), decode(ex["mask"])
        assert img.shape == mask.shape == (16, 16)
        for value in np.unique(mask):  # one image intensity per class: 0 -> 160 HU ... 2 -> 360 HU
            assert len(np.unique(img[mask == value])) == 1
        assert np.all(np.diff([img[mask == v][0] for v in np.unique(mask)]) > 0)


def test_mask_on_another_grid_is_left_out(tmp_path, prepare_load, caplog):
    case = tmp_path / "raw" / "case_00002"
    write_nifti(case / "imaging.nii.gz", random_volume(0))
    write_nifti(case / "segmentation.nii.gz", label_volume(shape=(16, 16, 4)))  # one slice more
    with caplog.at_level(logging.WARNING):
        ds, report = prepare_load("kits19", tmp_path / "raw", tmp_path / "out")
    assert len(ds) == 3 and all(m is None for m in ds["mask"])  # images kept, no misaligned mask
    assert "label grid (16, 16, 4) differs from image grid (16, 16, 3)" in caplog.text


def test_list_helpers():
    Msd = get_source("msd_task09_spleen")
    b = Msd.__new__(Msd)
    assert b.list_entry_key("Task09_Spleen/imagesTr/spleen_10.nii.gz") == "imagesTr/spleen_10.nii.gz"
    assert drop_list_entries(["a_image.nii", "a_label.nii"], re.compile("_label"), "s", "labels") == [
        "a_image.nii"
    ]
    assert ADNI_FLAT.match("I119322_CN.nii").groups()[:2] == ("119322", "CN")
    Adni = get_source("adni_3t")
    a = Adni.__new__(Adni)
    assert a.list_entry_key("I31518_MCI.nii") == "I31518"
    assert (
        a.list_entry_key(
            "ADNI_002_S_0295_MR_MPR__GradWarp__B1_Correction__N3__Scaled_Br_20070219173850420_S21856_I40966.nii"
        )
        == "I40966"
    )


@pytest.mark.parametrize(
    "text",
    [
        "spleen_10.nii.gz\nimagesTr/spleen_12.nii.gz\n",
        "Task09_Spleen\nTask09_Spleen/imagesTr/spleen_10.nii.gz\nTask09_Spleen/imagesTr/spleen_12.nii.gz\nTask10_Colon\nTask10_Colon/imagesTr/colon_001.nii.gz\n",
    ],
)
def test_msd_list_forms(text, tmp_path):
    p = tmp_path / "l.txt"
    p.write_text(text)
    Msd = get_source("msd_task09_spleen")
    b = Msd.__new__(Msd)
    entries = b.parse_file_list(p)
    assert [b.list_entry_key(e).rsplit("/", 1)[-1] for e in entries] == [
        "spleen_10.nii.gz",
        "spleen_12.nii.gz",
    ]
