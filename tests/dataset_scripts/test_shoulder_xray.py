"""Shoulder X-ray: class folders as named in LVM-Med's list (A1, C1, D1, Others)."""

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
)

FILES = [
    "A1/ZXM+0.png",
    "C1/CDJ+6.png",
    "C1/924hjj+-5.png",
    "D1/LWQ+12.png",
    "Others/HHM+30.png",
    "Others/HHM+-30.png",
]


def test_class_folders_string_labels_and_list(tmp_path, prepare_load):
    for i, rel in enumerate(FILES):
        write_image(tmp_path / "raw" / rel, i, shape=(20, 24))
    ds, _ = prepare_load("shoulder_xray", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "shoulder_xray", "X-ray", "shoulder")
    assert labels_by_path(ds) == {rel: rel.split("/")[0] for rel in FILES}  # string labels, all kept
    ds, _ = prepare_load(
        "shoulder_xray",
        tmp_path / "raw",
        tmp_path / "out2",
        file_list=str(write_list(tmp_path / "l.txt", ["C1/CDJ+6.png", "Others/HHM+-30.png"])),
    )
    assert paths_of(ds) == ["C1/CDJ+6.png", "Others/HHM+-30.png"]


def test_no_class_folders(tmp_path):
    write_image(tmp_path / "raw" / "CDJ+6.png", 0, shape=(20, 24))
    assert_missing("shoulder_xray", tmp_path / "raw", tmp_path / "out", "<class>/<name>.png")
