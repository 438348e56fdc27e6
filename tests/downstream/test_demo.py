"""`lvmmed demo` end to end on the embedded corpus, shortened (2 pretraining steps, tiny CNN)."""

import json

import numpy as np
import pytest

from lvmmed_hf.cli import main as cli_main


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reports(tmp_path):
    out = tmp_path / "demo"
    rc = cli_main(
        [
            "demo",
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--model-preset",
            "tiny_cnn",
            "--view-size",
            "32",
            "--batch-size",
            "16",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["pretraining"]["steps"] == 2
    assert report["pretraining"]["matching_accuracy_last"] is not None
    for name in ("pretrained", "random_init"):
        assert 0.0 <= report["linear_probe"][name]["accuracy"] <= 1.0
    assert len(report["probe_task"]["classes"]) >= 2
    # The baseline is several random initialisations; the summary is their mean and spread.
    rs = report["random_init_summary"]
    accs = [report["linear_probe"][f"random_init_{i}"]["accuracy"] for i in range(rs["n"])]
    assert rs["n"] == 5 and rs["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert rs["accuracy"]["std"] == pytest.approx(np.std(accs))
    assert report["verdict"] in ("beats", "does_not_beat", "inconclusive")
    # Every fold's L2 strength comes from the configured grid.
    grid = report["config"]["probe_weight_decays"]
    assert set(report["linear_probe"]["pretrained"]["weight_decay_per_fold"]) <= set(grid)
    assert (out / "learning_curve.png").stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert "Linear probe" in md and "learning_curve.png" in md and "mean ± std" in md
    # The saved backbone reloads, differs from the random start after 2 steps, and carries a card.
    from transformers import AutoModel

    import lvmmed_hf  # noqa: F401

    backbone = AutoModel.from_pretrained(report["backbone_dir"])
    assert (out / "pretraining" / "backbone" / "README.md").is_file()
    assert isinstance(backbone, lvmmed_hf.LvmMedCnnModel)


def test_medical_views_reach_the_collator_of_the_pretraining():
    """--view_augmentation medical builds the views the collator calls: no hue/saturation, no grayscale."""
    import torch

    from lvmmed_hf.training.collator import GraphMatchingCollator
    from lvmmed_hf.training.pretraining import DataArguments, view_config

    cfg = view_config(DataArguments(view_size=64, crop_scale_min=0.5, view_augmentation="medical"))
    assert cfg.hue == 0 and cfg.saturation == 0 and cfg.grayscale_p == (0.0, 0.0)
    assert cfg.blur_sigma[1] == pytest.approx(2.0 * 64 / 224) and cfg.scale == (0.5, 1.0)
    paper = view_config(DataArguments(view_size=64))
    assert paper.hue > 0 and paper.grayscale_p[0] > 0  # the paper's default stays the default
    with pytest.raises(ValueError, match="view_augmentation"):
        view_config(DataArguments(view_augmentation="strong"))
    collator = GraphMatchingCollator(cfg)
    # Colour of a colour image survives the medical views (no grayscale, no hue rotation).
    img = torch.zeros(4, 3, 64, 64)
    img[:, 0] = 0.8  # red
    views = collator.augmentation(img)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    rgb = views["pixel_values_s"] * std + mean
    assert (rgb[:, 0].mean((1, 2)) > rgb[:, 1].mean((1, 2)) + 0.3).all()


def test_probe_subset_caps_groups_and_drops_tiny_images():
    from datasets import Dataset
    from datasets import Image as ImageFeature
    from PIL import Image

    from lvmmed_hf.downstream.demo import _probe_subset

    imgs = [Image.fromarray(np.zeros((40, 40), np.uint8))] * 10 + [
        Image.fromarray(np.zeros((1, 40), np.uint8))
    ] * 2
    ds = Dataset.from_dict({"image": imgs, "patient_id": ["a"] * 8 + ["b"] * 2 + ["c"] * 2}).cast_column(
        "image", ImageFeature()
    )
    keep = _probe_subset(ds, 32, 4)
    assert [i for i in keep if i < 8] == [0, 2, 5, 7]  # evenly spaced over group "a"
    assert 8 in keep and 9 in keep and 10 not in keep and 11 not in keep
