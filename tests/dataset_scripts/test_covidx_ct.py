"""COVIDx CT: <ver>_images/*.png + train_COVIDx_CT-<ver>.txt (file, class, box); official train only."""

import numpy as np
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
    write_text,
)

TRAIN = [
    ("NCP_96_1328_0032.png", 2, (10, 2, 20, 18)),
    ("NCP_96_1328_0033.png", 2, (9, 2, 21, 18)),
    ("CP_1_3131_0000.png", 1, (1, 1, 23, 19)),
    ("Normal_2_14_0105.png", 0, (0, 3, 12, 15)),
]
VAL = [("CP_7_1_0000.png", 1, (1, 1, 5, 5))]


def make(root):
    for i, (name, _, _) in enumerate(TRAIN + VAL):
        write_image(root / "2A_images" / name, i, shape=(20, 24))

    def line(rows):
        return "\n".join(f"{n} {c} {' '.join(map(str, b))}" for n, c, b in rows) + "\n"

    write_text(root / "train_COVIDx_CT-2A.txt", line(TRAIN))
    write_text(root / "val_COVIDx_CT-2A.txt", line(VAL))
    write_text(root / "test_COVIDx_CT-2A.txt", "")


def test_train_labels_boxes_volumes(tmp_path, prepare_load):
    make(tmp_path / "raw")
    ds, _ = prepare_load("covidx_ct", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "covidx_ct", "CT", "lung")
    assert ds.features["label"].names == ["Normal", "Pneumonia", "COVID-19"]
    names = ["Normal", "Pneumonia", "COVID-19"]
    assert labels_by_path(ds) == {f"2A_images/{n}": names[c] for n, c, _ in TRAIN}
    for ex in ds:
        n = ex["original_path"].split("/")[1]
        np.testing.assert_allclose(ex["bbox"], dict((a, b) for a, _, b in TRAIN)[n])
        assert ex["volume_id"] == n.rsplit("_", 1)[0]


def test_file_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    ds, _ = prepare_load(
        "covidx_ct",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", ["CP_1_3131_0000.png"])),
    )
    assert paths_of(ds) == ["2A_images/CP_1_3131_0000.png"]


def test_lvmmed_default_split_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    # LVM-Med's COVIDx_CT_Lung list, verbatim form: one line, no trailing newline
    lst = tmp_path / "COVIDx_CT_Lung.txt"
    lst.write_text(
        "Default split: https://www.kaggle.com/datasets/c395fb339f210700ba392d81bf200f766418238c2734e5237b5dd0b6fc724fcb/versions/4"
    )
    ds, report = prepare_load("covidx_ct", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert paths_of(ds) == sorted(f"2A_images/{n}" for n, _, _ in TRAIN)  # the whole official train split
    assert report.list_entries_unmatched == 0


def test_missing_label_file(tmp_path):
    write_image(tmp_path / "raw" / "2A_images" / "CP_1_3131_0000.png", 0)
    assert_missing("covidx_ct", tmp_path / "raw", tmp_path / "out", "train_COVIDx_CT-<version>.txt")
