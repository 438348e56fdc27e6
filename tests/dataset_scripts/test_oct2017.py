"""OCT2017 (Kermany): [OCT2017/]train/<CLASS>/<CLASS>-<patient>-<n>.jpeg; official train only."""

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
)

TRAIN = [
    "CNV/CNV-1016042-1.jpeg",
    "CNV/CNV-1016042-2.jpeg",
    "DME/DME-1072015-1.jpeg",
    "DRUSEN/DRUSEN-1083159-1.jpeg",
    "NORMAL/NORMAL-1016042-3.jpeg",
]


def make(root, top="OCT2017 "):
    for i, rel in enumerate(TRAIN):
        write_image(root / top / "train" / rel, i, shape=(20, 24))
    write_image(root / top / "test" / "CNV" / "CNV-53018-1.jpeg", 50, shape=(20, 24))


def test_train_labels_patients(tmp_path, prepare_load):
    make(tmp_path / "raw")  # the Kaggle mirror's top folder has a trailing space
    ds, _ = prepare_load("oct2017", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "oct2017", "OCT", "retina")
    want = {f"OCT2017 /train/{r}": r.split("/")[0] for r in TRAIN}
    assert labels_by_path(ds) == want
    assert dict(zip(ds["original_path"], ds["patient_id"])) == {k: k.split("-")[1] for k in want}


def test_file_list_and_plain_layout(tmp_path, prepare_load):
    make(tmp_path / "raw", top="")
    ds, _ = prepare_load(
        "oct2017",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(
            write_list(tmp_path / "l.txt", ["train/DME/DME-1072015-1.jpeg", "NORMAL-1016042-3.jpeg"])
        ),
    )
    assert paths_of(ds) == ["train/DME/DME-1072015-1.jpeg", "train/NORMAL/NORMAL-1016042-3.jpeg"]


def test_lvmmed_default_split_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    lst = tmp_path / "Heidelberg_OCT_Eye.txt"
    lst.write_text("Default split")  # LVM-Med's list for this source, verbatim
    ds, _ = prepare_load("oct2017", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert paths_of(ds) == sorted(f"OCT2017 /train/{r}" for r in TRAIN)


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "test" / "CNV" / "CNV-1-1.jpeg", 0)  # only the test split
    assert_missing("oct2017", tmp_path / "raw", tmp_path / "out", "train/{CNV,DME,DRUSEN,NORMAL}")
