"""m2caiSeg: "m2caiSeg dataset"/{train,trainval,test}/images/<n>.jpg + groundtruth/<n>.png, each name once."""

import numpy as np
from _fixtures_images import assert_base_columns, assert_missing, noise, paths_of, write_image, write_list
from PIL import Image

NAMES = ["0.jpg", "015975.jpg", "03425.jpg", "975.jpg"]


def make(root):
    base = root / "m2caiSeg dataset"
    masks = {}
    for i, n in enumerate(NAMES):
        write_image(base / "train" / "images" / n, i)
        if i != 2:  # one frame without ground truth
            m = noise(100 + i)
            (base / "train" / "groundtruth").mkdir(exist_ok=True)
            Image.fromarray(m).save(base / "train" / "groundtruth" / n.replace(".jpg", ".png"))
            masks[n] = m
    for n in NAMES[:2] + ["99.jpg"]:  # trainval repeats train frames and adds its own
        write_image(base / "trainval" / "images" / n, 51)
    write_image(base / "test" / "images" / "7125.jpg", 52)
    return masks


def test_every_frame_once_and_masks(tmp_path, prepare_load):
    masks = make(tmp_path / "raw")
    ds, _ = prepare_load("m2caiseg", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "m2caiseg", "laparoscopy", "abdomen")
    want = [f"m2caiSeg dataset/train/images/{n}" for n in NAMES]
    want += ["m2caiSeg dataset/trainval/images/99.jpg", "m2caiSeg dataset/test/images/7125.jpg"]
    assert paths_of(ds) == sorted(want)  # repeated trainval frames are taken once, from train/
    for ex in ds:
        n = ex["original_path"].rsplit("/", 1)[1]
        if ex["original_path"].startswith("m2caiSeg dataset/train/") and n in masks:
            np.testing.assert_array_equal(np.asarray(ex["mask"]), masks[n])  # stored as PNG bytes, lossless
        else:
            assert ex["mask"] is None


def test_file_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    # the list's form: names only, train frames listed twice (train and trainval)
    lst = write_list(tmp_path / "l.txt", ["0.jpg", "975.jpg", "0.jpg", "7125.jpg"])
    ds, report = prepare_load("m2caiseg", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert paths_of(ds) == [
        "m2caiSeg dataset/test/images/7125.jpg",
        "m2caiSeg dataset/train/images/0.jpg",
        "m2caiSeg dataset/train/images/975.jpg",
    ]
    assert report.list_entries_unmatched == 0


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "m2caiSeg dataset" / "train" / "0.jpg", 0)  # no images/ folder
    assert_missing("m2caiseg", tmp_path / "raw", tmp_path / "out", "{train,trainval,test}/images/<n>.jpg")
