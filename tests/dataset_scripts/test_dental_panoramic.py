"""Dental panoramic X-rays: exercised by test_seg_masks.py (shared image + mask shape with BCSS)."""

from _fixtures_images import write_image

from lvmmed_hf.data.registry import get_source


def test_second_expert_masks_ignored(tmp_path):
    write_image(tmp_path / "Images" / "7.png", 0, shape=(20, 24))
    write_image(tmp_path / "Segmentation2" / "7.png", 1, shape=(20, 24))
    b = get_source("dental_panoramic")(cache_dir=str(tmp_path / "c"), data_dir=str(tmp_path))
    assert [(r.patient_id, r.extras["mask"]) for r in b.iter_records(tmp_path)] == [("7", None)]
