"""Kvasir v2: class folders of uuid JPEGs; LVM-Med's list flattens names to <class>_<uuid>.jpg."""

import uuid

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
)

CLASSES = [
    "dyed-lifted-polyps",
    "dyed-resection-margins",
    "esophagitis",
    "normal-cecum",
    "normal-pylorus",
    "normal-z-line",
    "polyps",
    "ulcerative-colitis",
]


def make(root, per_class=2):
    truth = {}
    for ci, cls in enumerate(CLASSES):
        for k in range(per_class):
            name = str(uuid.UUID(int=ci * 100 + k + 1)) + ".jpg"
            write_image(root / "kvasir-dataset-v2" / cls / name, ci * 10 + k)
            truth[f"kvasir-dataset-v2/{cls}/{name}"] = cls
    return truth


def test_sample_labels_features(tmp_path, prepare_load):
    truth = make(tmp_path / "raw", per_class=3)
    ds, report = prepare_load("kvasir_v2", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "kvasir_v2", "endoscopy", "GI tract")
    assert ds.features["label"].names == CLASSES
    assert_sampled_by_patient(ds, {p.rsplit("/", 1)[1][:-4]: 1 for p in truth})
    assert report.records_found == 24
    for p, lab in labels_by_path(ds).items():
        assert truth[p] == lab


def test_flattened_file_list(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    chosen = sorted(truth)[::3]
    entries = [f"{p.split('/')[1]}_{p.split('/')[2]}" for p in chosen]  # <class>_<uuid>.jpg as in the list
    ds, report = prepare_load(
        "kvasir_v2",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", entries)),
    )
    assert paths_of(ds) == chosen
    assert report.list_entries_unmatched == 0


def test_flattened_entry_names_one_class(tmp_path, prepare_load):
    name = str(uuid.UUID(int=7)) + ".jpg"  # the same file name in two class folders
    write_image(tmp_path / "raw" / "polyps" / name, 1)
    write_image(tmp_path / "raw" / "esophagitis" / name, 2)
    lst = write_list(tmp_path / "l.txt", [f"polyps_{name}"])
    ds, _ = prepare_load("kvasir_v2", tmp_path / "raw", tmp_path / "out", file_list=str(lst))
    assert paths_of(ds) == [f"polyps/{name}"]


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "kvasir-dataset-v2" / "not-a-class" / "a.jpg", 1)
    assert_missing("kvasir_v2", tmp_path / "raw", tmp_path / "out", "<class>/<uuid>.jpg")
