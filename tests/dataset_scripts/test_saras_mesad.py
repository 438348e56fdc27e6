"""SARAS-MESAD: train/set<k>/real<k>_frame_<n>.jpg + YOLO .txt boxes (or per-video folders); val/ ignored."""

import numpy as np
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    paths_of,
    write_image,
    write_list,
    write_text,
)

FRAMES = ["real1_frame_1000.jpg", "real1_frame_1001.jpg", "real2_frame_9.jpg", "real4_frame_99.jpg"]
BOXES = {
    "real1_frame_1000.jpg": [(3, [0.5, 0.4, 0.2, 0.1]), (0, [0.25, 0.75, 0.5, 0.5])],
    "real2_frame_9.jpg": [],
}


def make(root):
    train = root / "MESAD-Real" / "train"
    for i, n in enumerate(FRAMES):
        write_image(train / f"set{n[4]}" / n, i)
    write_text(train / "obj.names", "CuttingMesocolon\nPullingVasDeferens\n")
    for n, objs in BOXES.items():  # YOLO lines: class cx cy w h (normalised); real2_frame_9 has an empty file
        write_text(
            train / f"set{n[4]}" / n.replace(".jpg", ".txt"),
            "".join(f"{c} {' '.join(map(str, b))}\n" for c, b in objs),
        )
    write_image(root / "MESAD-Real" / "val" / "obj" / "real3_frame_1.jpg", 9)
    return {n: f"MESAD-Real/train/set{n[4]}/{n}" for n in FRAMES}


def test_named_frames_videos_and_boxes(tmp_path, prepare_load):
    rel = make(tmp_path / "raw")
    ds, _ = prepare_load("saras_mesad", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "saras_mesad", "surgical video", "prostate surgery")
    assert paths_of(ds) == sorted(rel.values())  # val/ excluded
    assert dict(zip(ds["original_path"], ds["patient_id"])) == {rel[n]: n.split("_")[0] for n in FRAMES}
    for ex in ds:
        want = BOXES.get(ex["original_path"].rsplit("/", 1)[1], [])
        assert ex["objects"]["category"] == [c for c, _ in want]
        got = np.asarray(ex["objects"]["bbox"], dtype=float).reshape(-1, 4)
        np.testing.assert_allclose(
            got, np.asarray([b for _, b in want], dtype=float).reshape(-1, 4), rtol=1e-6
        )


def test_file_list(tmp_path, prepare_load):
    rel = make(tmp_path / "raw")
    lst = write_list(tmp_path / "l.txt", ["real1_frame_1001.jpg", "real4_frame_99.jpg"])
    ds, _ = prepare_load("saras_mesad", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert paths_of(ds) == [rel["real1_frame_1001.jpg"], rel["real4_frame_99.jpg"]]


def test_video_folders(tmp_path, prepare_load):
    for i, rel in enumerate(["RARP1/000001.jpg", "RARP1/000002.jpg", "RARP2/000001.jpg"]):
        write_image(tmp_path / "raw" / "train" / rel, i)
    ds, _ = prepare_load("saras_mesad", tmp_path / "raw", tmp_path / "out")
    assert sorted(ds["patient_id"]) == ["RARP1", "RARP1", "RARP2"]


def test_no_frames_or_no_train_folder(tmp_path):
    (tmp_path / "raw" / "train").mkdir(parents=True)
    (tmp_path / "raw" / "train" / "real1_frame_1.txt").write_text("0 0.1 0.2 0.3 0.4")
    assert_missing("saras_mesad", tmp_path / "raw", tmp_path / "out", "real<k>_frame_<n>.jpg")
    write_image(tmp_path / "raw2" / "val" / "obj" / "real3_frame_1.jpg", 0)  # only the validation set
    assert_missing("saras_mesad", tmp_path / "raw2", tmp_path / "out2", "train/set<k>")
