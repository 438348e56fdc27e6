"""lvmmed_hf.data.layouts.images: the shared parsing of the 2D image sources."""

import pytest

from lvmmed_hf.data.layouts.images import (
    LayoutError,
    find_dir,
    find_file,
    is_default_split_entry,
    iter_class_folders,
    list_images,
    one_hot_class,
    read_csv_rows,
    strip_list_prefix,
    table_by,
    with_file_bytes,
)


def touch(p, data=b"x"):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_find_dir_and_file_order(tmp_path):
    (tmp_path / "b" / "train").mkdir(parents=True)
    (tmp_path / "a" / "train").mkdir(parents=True)
    assert find_dir(tmp_path, ["train", "*/train"]) == tmp_path / "a" / "train"  # sorted glob
    assert find_dir(tmp_path, ["missing"]) is None
    assert find_dir(tmp_path, ["."]) == tmp_path
    touch(tmp_path / "x" / "labels.csv")
    assert find_file(tmp_path, ["labels.csv", "*/labels.csv"]) == tmp_path / "x" / "labels.csv"
    assert find_file(tmp_path, ["nope.csv"]) is None


def test_list_images_suffix_case_and_hidden(tmp_path):
    for n in ("a.JPG", "b.jpeg", ".c.jpg", "._d.jpg", "e.txt", "sub/f.jpg"):
        touch(tmp_path / n)
    assert [p.name for p in list_images(tmp_path, (".jpg", ".jpeg"))] == ["a.JPG", "b.jpeg"]
    assert [p.name for p in list_images(tmp_path, (".jpg",), recursive=True)] == ["a.JPG", "f.jpg"]


def test_iter_class_folders(tmp_path):
    for n in ("B/2.png", "A/1.png", "A/r/3.png", "junk/4.png"):
        touch(tmp_path / n)
    assert [(p.name, c) for p, c in iter_class_folders(tmp_path, ["A", "B"])] == [
        ("1.png", "A"),
        ("2.png", "B"),
    ]
    assert [(p.name, c) for p, c in iter_class_folders(tmp_path, ["A"], recursive=True)] == [
        ("1.png", "A"),
        ("3.png", "A"),
    ]
    assert sorted(c for _, c in iter_class_folders(tmp_path)) == ["A", "B", "junk"]


def test_read_csv_rows(tmp_path):
    p = touch(tmp_path / "t.csv", "\ufeffid ; grade\n a ; 1\nb;2\n".encode())
    rows = read_csv_rows(p, ("id", "grade"))
    assert rows == [{"id": "a", "grade": "1"}, {"id": "b", "grade": "2"}]
    assert table_by(rows, "id")["b"]["grade"] == "2"
    with pytest.raises(LayoutError, match="lacks column"):
        read_csv_rows(p, ("image",))
    with pytest.raises(LayoutError, match="does not exist"):
        read_csv_rows(tmp_path / "none.csv")


def test_one_hot_class():
    cols = ["MEL", "NV", "UNK"]
    assert one_hot_class({"MEL": "0.0", "NV": "1.0", "UNK": "0"}, cols) == "NV"
    assert one_hot_class({"MEL": "1", "NV": "1"}, cols) is None  # ambiguous
    assert one_hot_class({"MEL": "x"}, cols) is None


def test_strip_list_prefix():
    assert strip_list_prefix("2_10_left.jpeg", r"\d_(?=\d+_)") == "10_left.jpeg"
    assert strip_list_prefix("dir/polyps_abc.jpg", r"polyps_") == "abc.jpg"
    assert strip_list_prefix("abc.jpg", r"polyps_") == "abc.jpg"


def test_with_file_bytes(tmp_path):
    p = touch(tmp_path / "m.png", b"PNGDATA")
    ex = with_file_bytes({"mask": str(p), "other": None}, ["mask", "other"])
    assert ex == {"mask": {"bytes": b"PNGDATA", "path": None}, "other": None}


def test_default_split_entry():
    assert is_default_split_entry("Default split: https://www.kaggle.com/datasets/x/versions/4")
    assert is_default_split_entry("  default split")
    assert not is_default_split_entry("train/CNV/CNV-1-1.jpeg")
