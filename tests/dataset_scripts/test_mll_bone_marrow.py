"""MLL bone marrow: exercised by test_cell_class_folders.py (shared class-folder shape with AML)."""

from _fixtures_images import write_image

from lvmmed_hf.data.registry import get_source


def test_class_folders_at_top_level(tmp_path):
    write_image(tmp_path / "ART" / "0001-1000" / "ART_00011.jpg", 0)
    write_image(tmp_path / "ABE" / "ABE_00002.jpg", 1)
    b = get_source("mll_bone_marrow")(cache_dir=str(tmp_path / "c"), data_dir=str(tmp_path))
    assert [(r.paths[0].name, r.label) for r in b.iter_records(tmp_path)] == [
        ("ABE_00002.jpg", "ABE"),
        ("ART_00011.jpg", "ART"),
    ]
