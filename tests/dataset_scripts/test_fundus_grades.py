"""APTOS 2019 and EyePACS: fundus images + a CSV of DR grades; LVM-Med's lists prefix the grade.

Shared shape (images + grade CSV + grade-prefixed list names), parametrised. Both keep 20%:
APTOS by image, EyePACS by patient (numeric id, both eyes together) within the training set.
"""

from collections import Counter

import pytest
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
    write_text,
)

GRADES = ["no_dr", "mild", "moderate", "severe", "proliferative_dr"]
APTOS_IDS = [
    "014508ccb9cb",
    "0151781fe50b",
    "01f7bb8be950",
    "05b1bb2bdb81",
    "0a4e1a29ffff",
    "0c7e82daf5a0",
    "1b32e1d775ea",
    "bba38f2294a3",
    "c62585bd68fb",
    "d0f0d0e0a0b0",
]
EYE = [
    f"{pid}_{side}"
    for pid in (10, 13, 15, 10003, 10007, 7398, 20, 21, 44338, 44349)
    for side in ("left", "right")
]


def make_aptos(root):
    rows, truth = ["id_code,diagnosis"], {}
    for i, c in enumerate(APTOS_IDS):
        write_image(root / "train_images" / f"{c}.png", i)
        rows.append(f"{c},{i % 5}")
        truth[f"train_images/{c}.png"] = i % 5
    write_image(root / "test_images" / "ffffffffffff.png", 99)
    write_text(root / "train.csv", "\n".join(rows) + "\n")
    return truth


def make_eyepacs(root):
    rows, truth = ["image,level"], {}
    for i, n in enumerate(EYE):
        write_image(root / "train" / f"{n}.jpeg", i)
        rows.append(f"{n},{(i * 3) % 5}")
        truth[f"train/{n}.jpeg"] = (i * 3) % 5
    write_image(root / "test" / "1_left.jpeg", 99)
    write_text(root / "trainLabels.csv", "\n".join(rows) + "\n")
    return truth


MAKE = {"aptos2019": make_aptos, "eyepacs": make_eyepacs}


def test_aptos_sample_and_grades(tmp_path, prepare_load):
    truth = make_aptos(tmp_path / "raw")
    ds, _ = prepare_load("aptos2019", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "aptos2019", "fundus", "retina")
    assert ds.features["label"].names == GRADES
    assert_sampled_by_patient(ds, {c: 1 for c in APTOS_IDS})
    assert labels_by_path(ds) == {p: GRADES[truth[p]] for p in ds["original_path"]}


def test_eyepacs_sample_by_patient_and_grades(tmp_path, prepare_load):
    truth = make_eyepacs(tmp_path / "raw")
    ds, report = prepare_load("eyepacs", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "eyepacs", "fundus", "retina")
    assert report.records_found == len(EYE)  # test/ is not part of the training set
    assert_sampled_by_patient(ds, Counter(n.split("_")[0] for n in EYE))  # both eyes or none
    assert labels_by_path(ds) == {p: GRADES[truth[p]] for p in ds["original_path"]}


@pytest.mark.parametrize("source", sorted(MAKE))
def test_grade_prefixed_list(tmp_path, prepare_load, source):
    truth = MAKE[source](tmp_path / "raw")
    chosen = sorted(truth)[::3]
    entries = [f"{truth[p]}_{p.rsplit('/', 1)[1]}" for p in chosen]  # e.g. 0_10_left.jpeg, 2_01f7bb8be950.png
    ds, report = prepare_load(
        source, tmp_path / "raw", tmp_path / "out", file_list=str(write_list(tmp_path / "l.txt", entries))
    )
    assert paths_of(ds) == chosen
    assert report.list_entries_unmatched == 0


@pytest.mark.parametrize("source,csv", [("aptos2019", "train.csv"), ("eyepacs", "trainLabels.csv")])
def test_missing_label_table(tmp_path, source, csv):
    MAKE[source](tmp_path / "raw")
    (tmp_path / "raw" / csv).unlink()
    assert_missing(source, tmp_path / "raw", tmp_path / "out", csv)


def test_bad_label_table(tmp_path):
    make_aptos(tmp_path / "raw")
    write_text(tmp_path / "raw" / "train.csv", "id,grade\n014508ccb9cb,0\n")
    assert_missing("aptos2019", tmp_path / "raw", tmp_path / "out", "id_code")
