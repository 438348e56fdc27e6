"""BCSS: exercised by test_seg_masks.py (shared image + mask shape with the dental X-rays)."""

from _fixtures_images import write_image

from lvmmed_hf.data.registry import get_source


def test_non_tcga_files_are_not_rois(tmp_path):
    write_image(tmp_path / "rgbs_colorNormalized" / "TCGA-A1-A0SK-DX1_xmin1_ymin1_MPP-0.2500.png", 0)
    write_image(tmp_path / "rgbs_colorNormalized" / "legend.png", 1)
    b = get_source("bcss")(cache_dir=str(tmp_path / "c"), data_dir=str(tmp_path))
    assert [(r.patient_id, r.extras["mask"]) for r in b.iter_records(tmp_path)] == [("TCGA-A1-A0SK", None)]
