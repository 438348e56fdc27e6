"""BCCD: VOC layout (JPEGImages, Annotations, ImageSets/Main); LVM-Med used the trainval set."""

import numpy as np
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    paths_of,
    write_image,
    write_list,
    write_text,
)


def voc(objects):
    objs = "".join(
        f"<object><name>{n}</name><pose>Unspecified</pose><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, b in objects
    )
    size = "<size><width>24</width><height>20</height></size>"
    return f"<annotation><folder>JPEGImages</folder>{size}{objs}</annotation>"


def make(root):
    b = root / "BCCD_Dataset-master" / "BCCD"
    ids = [f"BloodImage_{i:05d}" for i in (0, 1, 3, 4, 5, 7)]
    boxes = {}
    for k, i in enumerate(ids):
        write_image(b / "JPEGImages" / f"{i}.jpg", k)
        objs = [("RBC", (1, 2, 10, 12)), ("WBC", (3, 4, 20, 18))][: 1 + k % 2] + [
            ("Platelets", (5, 5, 7, 8))
        ] * (k % 3 == 0)
        write_text(b / "Annotations" / f"{i}.xml", voc(objs))
        boxes[i] = objs
    write_text(b / "ImageSets" / "Main" / "train.txt", "\n".join(ids[:3]) + "\n")
    write_text(b / "ImageSets" / "Main" / "val.txt", "\n".join(ids[3:5]) + "\n")
    write_text(b / "ImageSets" / "Main" / "trainval.txt", "\n".join(ids[:5]) + "\n")
    write_text(b / "ImageSets" / "Main" / "test.txt", ids[5] + "\n")
    return ids, boxes


def test_trainval_and_boxes(tmp_path, prepare_load):
    ids, boxes = make(tmp_path / "raw")
    ds, _ = prepare_load("bccd", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "bccd", "microscopy", "blood cells")
    assert sorted(ds["volume_id"]) == ids[:5]  # the test image is not yielded
    cats = ds.features["objects"]["category"].feature.names
    for ex in ds:
        want = boxes[ex["volume_id"]]
        assert [cats[c] for c in ex["objects"]["category"]] == [n for n, _ in want]
        np.testing.assert_allclose(ex["objects"]["bbox"], [list(b) for _, b in want])


def test_file_list(tmp_path, prepare_load):
    ids, _ = make(tmp_path / "raw")
    ds, _ = prepare_load(
        "bccd",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", [f"{ids[1]}.jpg", f"{ids[4]}.jpg"])),
    )
    assert paths_of(ds) == [
        f"BCCD_Dataset-master/BCCD/JPEGImages/{ids[1]}.jpg",
        f"BCCD_Dataset-master/BCCD/JPEGImages/{ids[4]}.jpg",
    ]


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "BCCD" / "images" / "BloodImage_00000.jpg", 0)
    assert_missing("bccd", tmp_path / "raw", tmp_path / "out", "JPEGImages")
