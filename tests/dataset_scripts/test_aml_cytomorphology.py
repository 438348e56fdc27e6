"""AML-Cytomorphology: exercised by test_cell_class_folders.py (shared class-folder shape with MLL)."""

from _fixtures_images import write_image

from lvmmed_hf.data.registry import get_source


def test_class_root_found_two_levels_down(tmp_path):
    write_image(tmp_path / "download" / "AML-Cytomorphology" / "EBO" / "EBO_0001.tiff", 0)
    b = get_source("aml_cytomorphology")(cache_dir=str(tmp_path / "c"), data_dir=str(tmp_path))
    recs = list(b.iter_records(tmp_path))
    assert [(r.paths[0].name, r.label) for r in recs] == [("EBO_0001.tiff", "EBO")]
