"""HC18: training_set/<nnn>_HC.png, <nnn>_<k>HC.png, *_Annotation.png masks, pixel size / HC CSV."""

from collections import Counter

import numpy as np
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    noise,
    paths_of,
    write_image,
    write_list,
    write_text,
)
from PIL import Image

NAMES = [
    "000_HC",
    "001_HC",
    "006_HC",
    "009_HC",
    "010_HC",
    "010_2HC",
    "011_HC",
    "012_HC",
    "016_HC",
    "016_2HC",
    "016_3HC",
    "804_HC",
]


def make(root):
    rows, truth = ["filename,pixel size(mm),head circumference (mm)"], {}
    for i, n in enumerate(NAMES):
        write_image(root / "training_set" / f"{n}.png", i, shape=(20, 24))
        ann = (noise(100 + i, (20, 24)) > 128).astype(np.uint8) * 255
        Image.fromarray(ann).save(root / "training_set" / f"{n}_Annotation.png")
        rows.append(f"{n}.png,0.{i + 1},{100.5 + i}")
        truth[n] = (ann, float(f"0.{i + 1}"), 100.5 + i)
    write_image(root / "test_set" / "000_HC.png", 77, shape=(20, 24))
    write_text(root / "training_set_pixel_size_and_HC.csv", "\n".join(rows) + "\n")
    return truth


def test_subjects_sampled_masks_and_targets(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    ds, report = prepare_load("hc18", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "hc18", "ultrasound", "fetal head")
    assert report.records_found == len(NAMES)  # annotations are never images, test_set ignored
    assert_sampled_by_patient(ds, Counter(n.split("_")[0] for n in NAMES))
    for ex in ds:
        ann, px, hc = truth[ex["volume_id"]]
        np.testing.assert_array_equal(np.asarray(ex["mask"]), ann)
        assert abs(ex["pixel_size_mm"] - px) < 1e-6 and abs(ex["head_circumference_mm"] - hc) < 1e-4


def test_file_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    ds, _ = prepare_load(
        "hc18",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", ["006_HC.png", "016_2HC.png"])),
    )
    assert paths_of(ds) == ["training_set/006_HC.png", "training_set/016_2HC.png"]


def test_only_annotations(tmp_path):
    write_image(tmp_path / "raw" / "training_set" / "000_HC_Annotation.png", 0, shape=(20, 24))
    assert_missing("hc18", tmp_path / "raw", tmp_path / "out", "training_set/<nnn>_HC.png")
