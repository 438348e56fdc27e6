"""RSNA bone age: boneage-training-dataset/boneage-training-dataset/<id>.png + CSV (id, boneage, male)."""

import pytest
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    paths_of,
    write_image,
    write_list,
    write_text,
)

IDS = ["1377", "1378", "10525", "10567", "10639", "11833", "6420", "8016", "12000", "12001"]


def make(root, nested=True):
    img = root / "boneage-training-dataset" / ("boneage-training-dataset" if nested else "")
    rows, truth = ["id,boneage,male"], {}
    for i, pid in enumerate(IDS):
        write_image(img / f"{pid}.png", i, shape=(20, 24))
        rows.append(f"{pid},{12 * i + 6},{'True' if i % 2 else 'False'}")
        truth[pid] = (float(12 * i + 6), bool(i % 2))
    write_text(root / "boneage-training-dataset.csv", "\n".join(rows) + "\n")
    return truth


def test_sample_and_targets(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    ds, _ = prepare_load("rsna_bone_age", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "rsna_bone_age", "X-ray", "hand")
    assert_sampled_by_patient(ds, {i: 1 for i in IDS})
    for ex in ds:
        assert (ex["boneage_months"], ex["male"]) == truth[ex["patient_id"]]
        assert ex["label"] is None  # regression target lives in boneage_months
        assert (
            ex["original_path"] == f"boneage-training-dataset/boneage-training-dataset/{ex['patient_id']}.png"
        )


def test_file_list_flat_folder(tmp_path, prepare_load):
    make(tmp_path / "raw", nested=False)
    ds, _ = prepare_load(
        "rsna_bone_age",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", ["10525.png", "8016.png"])),
    )
    assert paths_of(ds) == ["boneage-training-dataset/10525.png", "boneage-training-dataset/8016.png"]


@pytest.mark.parametrize("broken", ["csv", "column"])
def test_missing_or_bad_csv(tmp_path, broken):
    make(tmp_path / "raw")
    if broken == "csv":
        (tmp_path / "raw" / "boneage-training-dataset.csv").unlink()
    else:
        write_text(tmp_path / "raw" / "boneage-training-dataset.csv", "id,age\n1377,5\n")
    assert_missing("rsna_bone_age", tmp_path / "raw", tmp_path / "out", "boneage")
