"""VinDr-CXR: PhysioNet DICOM release and the Kaggle PNG re-export, image IDs from LVM-Med's list.

Pixels are checked against the written arrays (MONOCHROME1 inverted over the 12 stored bits), labels
against the radiologists' rows written here, the file list by ``.png`` names against ``.dicom`` files.
"""

from __future__ import annotations

import numpy as np
import pytest

from lvmmed_hf.data.builder import FileListError, SourceDataMissingError

try:
    from ._fixtures_tcia import check_missing_layout, prepare_and_load, write_2d
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import check_missing_layout, prepare_and_load, write_2d

IDS = [
    "9043e39c8e52843751e7cc9edc2c02e6",
    "c69e4be327f6c723c1d45f7e4d8540fb",
    "79c0ab426e0b9c53966c821677994225",
    "5db497363b855586ddb18a47b1a80d34",
    "3b0daa93bd5fce03d9ad97e01a3847f3",
]
LABEL_COLS = ["Aortic enlargement", "Cardiomegaly", "Pleural effusion", "Lung tumor", "No finding"]


def test_vindr_cxr_physionet(tmp_path):
    root = tmp_path / "physionet.org/files/vindr-cxr/1.0.0"
    arrays = {}
    for i, image_id in enumerate(IDS):
        mono1 = i == 1
        arr = write_2d(
            root / "train" / f"{image_id}.dicom",
            modality="DX",
            photometric="MONOCHROME1" if mono1 else "MONOCHROME2",
        )
        arrays[image_id] = (4095 - arr) if mono1 else arr
    write_2d(
        root / "test" / "0123456789abcdef0123456789abcdef.dicom", modality="DX"
    )  # official test: not read
    # one row per radiologist: image 0 normal; image 1 cardiomegaly by one reader; image 2 two findings
    rows = ["image_id,rad_ID," + ",".join(LABEL_COLS)]
    votes = {
        0: [{"No finding"}] * 3,
        1: [{"Cardiomegaly"}, {"No finding"}, {"No finding"}],
        2: [{"Pleural effusion", "Aortic enlargement"}, {"Aortic enlargement"}, set()],
    }
    for i, image_id in enumerate(IDS):
        for r, marked in enumerate(votes.get(i, [{"No finding"}] * 3)):
            rows.append(f"{image_id},R{r + 8}," + ",".join("1" if c in marked else "0" for c in LABEL_COLS))
    (root / "annotations").mkdir()
    (root / "annotations/image_labels_train.csv").write_text("\n".join(rows) + "\n")

    ds, report = prepare_and_load("vindr_cxr", tmp_path / "physionet.org", tmp_path / "out")
    assert len(ds) == 5 and report.skipped == {}  # official train: every training image, no sampling
    assert set(ds["patient_id"]) == set(IDS)
    labels = dict(zip(ds["patient_id"], ds["label"]))
    assert labels[IDS[0]] == "No finding"
    assert labels[IDS[1]] == "Cardiomegaly|No finding"
    assert labels[IDS[2]] == "Aortic enlargement|Pleural effusion"
    for row in ds:
        img = np.asarray(row["image"])
        assert img.dtype == np.uint16 or row["image"].mode.startswith("I")
        assert np.array_equal(img.astype(np.int64), arrays[row["patient_id"]].astype(np.int64))
        assert (
            row["original_path"].endswith(f"train/{row['patient_id']}.dicom") and row["modality"] == "X-ray"
        )

    lst = tmp_path / "0_SSL_VinBigData_X-ray_Lung.txt"
    lst.write_text(f"{IDS[0]}.png\n{IDS[3]}.png\nffffffffffffffffffffffffffffffff.png\n")
    dsl, reportl = prepare_and_load("vindr_cxr", root, tmp_path / "list", file_list=str(lst))
    assert sorted(dsl["patient_id"]) == sorted([IDS[0], IDS[3]])
    assert reportl.list_entries_unmatched == 1 and reportl.skipped["not_in_list"] == 3
    bad = tmp_path / "bad.txt"
    bad.write_text("CHNCXR_0001_0.png\n")
    with pytest.raises(FileListError):
        prepare_and_load("vindr_cxr", root, tmp_path / "bad", file_list=str(bad))


def test_vindr_cxr_kaggle_png_export(tmp_path):
    from PIL import Image

    raw = tmp_path / "vinbigdata"
    rng = np.random.default_rng(0)
    for image_id in IDS[:3]:
        (raw / "train").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(
            raw / "train" / f"{image_id}.png"
        )
    # the DICOM original of one image beside its PNG: the original wins
    dicom_arr = write_2d(raw / "train" / f"{IDS[0]}.dicom", modality="DX")
    (raw / "train.csv").write_text(
        "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
        f"{IDS[0]},No finding,14,R11,,,,\n{IDS[1]},Nodule/Mass,8,R9,10,10,20,20\n{IDS[1]},Pleural "
        "thickening,11,R9,1,1,5,5\n"
    )
    ds, _ = prepare_and_load("vindr_cxr", raw, tmp_path / "out")
    assert len(ds) == 3
    paths = dict(zip(ds["patient_id"], ds["original_path"]))
    assert paths[IDS[0]] == f"train/{IDS[0]}.dicom" and paths[IDS[1]] == f"train/{IDS[1]}.png"
    row0 = ds[ds["patient_id"].index(IDS[0])]
    assert np.array_equal(np.asarray(row0["image"]).astype(np.int64), dicom_arr.astype(np.int64))
    labels = dict(zip(ds["patient_id"], ds["label"]))
    assert labels == {IDS[0]: "No finding", IDS[1]: "Nodule/Mass|Pleural thickening", IDS[2]: None}


def test_vindr_cxr_missing_layout(tmp_path):
    check_missing_layout(tmp_path, "vindr_cxr")
    only_test = tmp_path / "only_test"
    write_2d(only_test / "test" / f"{IDS[0]}.dicom")
    with pytest.raises(SourceDataMissingError, match="train/<image_id>.dicom"):
        prepare_and_load("vindr_cxr", only_test, tmp_path / "o")
