"""NuCLS: rgb/<FOV>.png + mask/<FOV>.png [+ train_test_splits/fold_1_train.csv]."""

import numpy as np
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    noise,
    paths_of,
    write_image,
    write_list,
    write_text,
)
from PIL import Image

FOVS = [
    "TCGA-A2-A04P-DX1_id-5ea4099addda5f839898164e_left-105249_top-48755_bottom-49046_right-105559.png",
    "TCGA-A2-A04P-DX1_id-5ea4099addda5f839898164e_left-105296_top-48503_bottom-48769_right-105698.png",
    "TCGA-S3-AA10-DX1_id-5ea40a7dddda5f8398990245_left-44812_top-24473_bottom-24780_right-45118.png",
    "TCGA-S3-AA15-DX1_id-5ea40a6addda5f839898f24a_left-57258_top-31227_bottom-31508_right-57542.png",
]


def make(root, split=True):
    base = root / "NuCLS_corrected_single_rater"
    masks = {}
    for i, n in enumerate(FOVS):
        write_image(base / "rgb" / n, i)
        m = noise(10 + i)
        (base / "mask").mkdir(parents=True, exist_ok=True)
        Image.fromarray(m).save(base / "mask" / n)
        masks[n] = m
        write_text(base / "csv" / n.replace(".png", ".csv"), "raw_classification,xmin\n")
    if split:
        write_text(
            base / "train_test_splits" / "fold_1_train.csv",
            ",slide_name,hospital\n0,TCGA-A2-A04P-DX1,A2\n1,TCGA-S3-AA15-DX1,S3\n",
        )
    return masks


def test_training_fold_and_masks(tmp_path, prepare_load):
    masks = make(tmp_path / "raw")
    ds, _ = prepare_load("nucls", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "nucls", "histopathology", "breast nuclei")
    kept = [FOVS[0], FOVS[1], FOVS[3]]  # TCGA-S3-AA10 is not in the training fold
    assert paths_of(ds) == sorted(f"NuCLS_corrected_single_rater/rgb/{n}" for n in kept)
    assert sorted(set(ds["patient_id"])) == ["TCGA-A2-A04P", "TCGA-S3-AA15"]
    for ex in ds:
        np.testing.assert_array_equal(np.asarray(ex["mask"]), masks[ex["original_path"].rsplit("/", 1)[1]])


def test_no_split_file_and_file_list(tmp_path, prepare_load):
    make(tmp_path / "raw", split=False)
    ds, _ = prepare_load("nucls", tmp_path / "raw", tmp_path / "out")
    assert len(ds) == 4
    ds, _ = prepare_load(
        "nucls", tmp_path / "raw", tmp_path / "out2", file_list=str(write_list(tmp_path / "l.txt", [FOVS[2]]))
    )
    assert paths_of(ds) == [f"NuCLS_corrected_single_rater/rgb/{FOVS[2]}"]


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "images" / FOVS[0], 0)
    assert_missing("nucls", tmp_path / "raw", tmp_path / "out", "rgb/TCGA-")
