"""HyperKvasir: unlabelled-images/images/<uuid>.jpg + labeled-images/<tract>/<category>/<class>/<uuid>.jpg."""

import uuid

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
)

LABELED = [
    ("lower-gi-tract", "pathological-findings", "polyps"),
    ("lower-gi-tract", "quality-of-mucosal-views", "bbps-2-3"),
    ("upper-gi-tract", "anatomical-landmarks", "z-line"),
]


def make(root):
    unl = [f"unlabeled-images/images/{uuid.UUID(int=i + 1)}.jpg" for i in range(5)]
    for i, p in enumerate(unl):
        write_image(root / p, i)
    lab = {}
    for j, (tract, cat, cls) in enumerate(LABELED):
        p = f"labeled-images/{tract}/{cat}/{cls}/{uuid.UUID(int=1000 + j)}.jpg"
        write_image(root / p, 100 + j)
        lab[p] = cls
    write_text = root / "labeled-images" / "image-labels.csv"
    write_text.write_text("Video file,Finding,Organ,Classification\n")
    return unl, lab


def test_both_parts_labels_official_train(tmp_path, prepare_load):
    unl, lab = make(tmp_path / "raw")
    ds, report = prepare_load("hyperkvasir", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "hyperkvasir", "endoscopy", "GI tract")
    assert len(ds) == 8 and report.skipped.get("not_in_split", 0) == 0  # official train: nothing sampled away
    assert len(ds.features["label"].names) == 23
    got = labels_by_path(ds)
    assert {p: got[p] for p in unl} == {p: None for p in unl}
    assert {p: got[p] for p in lab} == lab


def test_list_of_bare_uuid_names(tmp_path, prepare_load):
    unl, lab = make(tmp_path / "raw")
    chosen = [unl[0], unl[3], sorted(lab)[1]]
    entries = [p.rsplit("/", 1)[1] for p in chosen]  # the list holds bare <uuid>.jpg names
    ds, _ = prepare_load(
        "hyperkvasir",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", entries)),
    )
    assert paths_of(ds) == sorted(chosen)


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "images" / "x.jpg", 0)  # images not under unlabeled-images/
    assert_missing("hyperkvasir", tmp_path / "raw", tmp_path / "out", "unlabeled-images/images/<uuid>.jpg")
