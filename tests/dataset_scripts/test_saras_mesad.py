"""SARAS-MESAD: train frames named real<k>_frame_<n>.jpg (or per-video folders); val/ ignored."""

from _fixtures_images import assert_base_columns, assert_missing, paths_of, write_image, write_list

FRAMES = ["real1_frame_1000.jpg", "real1_frame_1001.jpg", "real2_frame_9.jpg", "real4_frame_99.jpg"]


def test_named_frames_and_list(tmp_path, prepare_load):
    for i, n in enumerate(FRAMES):
        write_image(tmp_path / "raw" / "train" / "images" / n, i)
    write_image(tmp_path / "raw" / "val" / "images" / "real3_frame_1.jpg", 9)
    ds, _ = prepare_load("saras_mesad", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "saras_mesad", "surgical video", "prostate surgery")
    assert paths_of(ds) == sorted(f"train/images/{n}" for n in FRAMES)
    assert dict(zip(ds["original_path"], ds["patient_id"])) == {
        f"train/images/{n}": n.split("_")[0] for n in FRAMES
    }
    ds, _ = prepare_load(
        "saras_mesad",
        tmp_path / "raw",
        tmp_path / "out2",
        file_list=str(write_list(tmp_path / "l.txt", ["real1_frame_1001.jpg", "real4_frame_99.jpg"])),
    )
    assert paths_of(ds) == ["train/images/real1_frame_1001.jpg", "train/images/real4_frame_99.jpg"]


def test_video_folders(tmp_path, prepare_load):
    for i, rel in enumerate(["RARP1/000001.jpg", "RARP1/000002.jpg", "RARP2/000001.jpg"]):
        write_image(tmp_path / "raw" / "train" / rel, i)
    ds, _ = prepare_load("saras_mesad", tmp_path / "raw", tmp_path / "out")
    assert sorted(ds["patient_id"]) == ["RARP1", "RARP1", "RARP2"]


def test_no_frames(tmp_path):
    (tmp_path / "raw" / "train").mkdir(parents=True)
    (tmp_path / "raw" / "train" / "real1_frame_1.txt").write_text("0 1 2 3 4")
    assert_missing("saras_mesad", tmp_path / "raw", tmp_path / "out", "real<k>_frame_<n>.jpg")
