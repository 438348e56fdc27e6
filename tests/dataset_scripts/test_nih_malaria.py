"""NIH malaria: cell_images/[cell_images/]{Parasitized,Uninfected}/*.png, 20% by slide."""

from collections import Counter

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
)

SLIDES = [
    "C100P61ThinF",
    "C101P62ThinF",
    "C102P63ThinF",
    "C99P60ThinF",
    "C1_thinF",
    "C2NThinF",
    "C39P4thinF",
    "C40P5thinF",
    "C41P6thinF",
    "C42P7thinF",
]


def make(root):
    truth = {}
    for i, s in enumerate(SLIDES):
        for k in range(1 + i % 3):
            cls = "Parasitized" if i % 2 else "Uninfected"
            rel = f"cell_images/cell_images/{cls}/{s}_IMG_20150918_1443{i:02d}_cell_{k + 1}.png"
            write_image(root / rel, i * 10 + k)
            truth[rel] = (cls, s)
    (root / "cell_images" / "cell_images" / "Parasitized" / "Thumbs.db").write_bytes(b"\0")
    return truth


def test_sample_by_slide_and_labels(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    ds, _ = prepare_load("nih_malaria", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "nih_malaria", "microscopy", "blood smear")
    assert_sampled_by_patient(ds, Counter(s for _, s in truth.values()))
    assert labels_by_path(ds) == {p: truth[p][0] for p in ds["original_path"]}


def test_file_list(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    chosen = sorted(truth)[::4]
    ds, _ = prepare_load(
        "nih_malaria",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", [p.rsplit("/", 1)[1] for p in chosen])),
    )
    assert paths_of(ds) == chosen


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "cell_images" / "C1_thinF_IMG_1_cell_1.png", 0)
    assert_missing("nih_malaria", tmp_path / "raw", tmp_path / "out", "{Parasitized,Uninfected}")
