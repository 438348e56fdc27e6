"""Osteosarcoma-UT: Training-Set-<k>/set<n>/<tile>.jpg, labels in ML_Features_1144.csv, 20% by tile."""

from collections import Counter

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

PATIENTS = ["Case-3", "Case-4", "Case-6", "Case-8", "Case-9", "Case-10", "Case-12", "P9", "P10", "P11"]
CSV_CLASS = ["Non-Tumor", "Viable", "Non-Viable-Tumor", "viable: non-viable"]
NAME = {
    "Non-Tumor": "non_tumor",
    "Viable": "viable_tumor",
    "Non-Viable-Tumor": "non_viable_tumor",
    "viable: non-viable": "viable_non_viable",
}


def csv_name(stem):
    """The CSV spells tiles with spaces: Case-3-A10-17206-19249 -> 'Case 3 A10 - 17206 - 19249'."""
    *head, x, y = stem.split("-")
    return f"{' '.join(head)} - {x} - {y}"


def make(root):
    truth, rows = {}, ["image.name,classification,feat1"]
    for i, pid in enumerate(PATIENTS):
        for k in range(1 + i % 3):
            stem = f"{pid}-A{10 + k}-{17206 + i}-{19249 + k}"
            part = "Training-Set-1" if pid.startswith("Case") else "Training-Set-2"
            p = f"{part}/set{1 + i % 2}/{stem}.jpg"
            write_image(root / p, i * 10 + k)
            cls = CSV_CLASS[(i + k) % 4]
            rows.append(f"{csv_name(stem)},{cls},0.5")
            truth[p] = NAME[cls]
    write_text(root / "ML_Features_1144.csv", "\n".join(rows) + "\n")
    return truth


def test_sample_by_tile_and_labels(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    ds, _ = prepare_load("osteosarcoma_ut", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "osteosarcoma_ut", "histopathology", "bone")
    # 4 patients only, and LVM-Med's list has tiles of all of them: the sampling unit is the tile
    assert_sampled_by_patient(ds, Counter(p.rsplit("/", 1)[1][:-4] for p in truth))
    for p, lab in labels_by_path(ds).items():
        assert truth[p] == lab


def test_file_list(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    chosen = sorted(truth)[:4]
    ds, _ = prepare_load(
        "osteosarcoma_ut",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", [p.rsplit("/", 1)[1] for p in chosen])),
    )
    assert paths_of(ds) == chosen
    assert labels_by_path(ds) == {p: truth[p] for p in chosen}


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "set1" / "Case-3-A10-1-2.jpg", 0)
    assert_missing("osteosarcoma_ut", tmp_path / "raw", tmp_path / "out", "Training-Set-")
