"""`lvmmed demo` end to end on the embedded corpus, shortened (2 pretraining steps, tiny CNN)."""

import json

import numpy as np
import pytest

from lvmmed_hf.cli import main as cli_main

TINY_DEMO = ["--max-steps", "2", "--model-preset", "tiny_cnn", "--view-size", "32", "--batch-size", "16"]


@pytest.mark.slow
def test_demo_runs_end_to_end_reports_and_is_reproducible(tmp_path, capsys):
    from lvmmed_hf.downstream.demo import METRICS, verdict

    out, again = tmp_path / "demo", tmp_path / "again"
    corpus = str(tmp_path / "corpus")
    assert cli_main(["demo", "--output-dir", str(out), "--corpus-dir", corpus, *TINY_DEMO]) == 0
    # The Trainer's log dicts are not printed under the progress bar.
    assert "{'loss'" not in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    pt = report["pretraining"]
    assert pt["steps"] == 2 and pt["max_steps"] == 2 and pt["stopped_by"] == "step budget"
    assert pt["matching_accuracy_last"] is not None
    assert report["config"]["num_threads"] >= 1
    for name in ("pretrained", "random_init"):
        assert 0.0 <= report["linear_probe"][name]["accuracy"] <= 1.0
    assert len(report["probe_task"]["classes"]) >= 2
    # The baseline is several random initialisations; the summary is their mean and spread.
    rs = report["random_init_summary"]
    accs = [report["linear_probe"][f"random_init_{i}"]["accuracy"] for i in range(rs["n"])]
    assert rs["n"] == 5 and rs["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert rs["accuracy"]["std"] == pytest.approx(np.std(accs))
    assert report["verdict"] == verdict(report["linear_probe"]["pretrained"], rs)
    assert set(METRICS) <= set(report["linear_probe"]["pretrained"])
    # Every fold's C comes from the configured grid.
    grid = report["config"]["probe_c_grid"]
    assert set(report["linear_probe"]["pretrained"]["c_per_fold"]) <= set(grid)
    assert (out / "learning_curve.png").stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert "Linear probe" in md and "learning_curve.png" in md and "mean ± std" in md
    assert "2 of 2 steps" in md and "torch threads" in md
    timings = json.loads((out / "timings.json").read_text())
    assert {"pretrain_s", "probe_s", "probe_fit_s", "total_s"} <= set(timings)
    # Same seed and thread count: the same report, byte for byte (timings are kept apart).
    assert cli_main(["demo", "--output-dir", str(again), "--corpus-dir", corpus, *TINY_DEMO]) == 0
    assert (again / "report.json").read_text() == (out / "report.json").read_text()
    assert (again / "report.md").read_text() == md
    # The saved backbone reloads and carries a card.
    from transformers import AutoModel

    import lvmmed_hf

    backbone = AutoModel.from_pretrained(out / report["backbone_dir"])
    assert (out / "pretraining" / "backbone" / "README.md").is_file()
    assert isinstance(backbone, lvmmed_hf.LvmMedCnnModel)


def _summary(mean, std):
    return {m: {"mean": mean, "std": std} for m in ("accuracy", "study_accuracy", "macro_f1")}


@pytest.mark.parametrize(
    "pretrained,expected",
    [
        # All three above mean + std (0.5 + 0.1): beats.
        ({"accuracy": 0.61, "study_accuracy": 0.7, "macro_f1": 0.65}, "beats"),
        # All three below the mean: does not beat.
        ({"accuracy": 0.49, "study_accuracy": 0.3, "macro_f1": 0.45}, "does_not_beat"),
        # Above the mean but not above mean + std everywhere: inconclusive.
        ({"accuracy": 0.61, "study_accuracy": 0.7, "macro_f1": 0.6}, "inconclusive"),
        # Mixed sides of the mean: inconclusive.
        ({"accuracy": 0.9, "study_accuracy": 0.9, "macro_f1": 0.4}, "inconclusive"),
        # Exactly at the mean is not below it.
        ({"accuracy": 0.5, "study_accuracy": 0.3, "macro_f1": 0.3}, "inconclusive"),
    ],
)
def test_verdict_on_synthetic_scores(pretrained, expected):
    from lvmmed_hf.downstream.demo import verdict

    assert verdict(pretrained, _summary(0.5, 0.1)) == expected


def test_wall_clock_guard_stops_training_and_is_recorded():
    """The wall-clock guard stops training and records it (the report names it); otherwise the step
    budget alone decides."""
    from types import SimpleNamespace

    from lvmmed_hf.downstream.demo import StepBudgetCallback

    state = SimpleNamespace(global_step=3, is_world_process_zero=False)
    guard = StepBudgetCallback(max_steps=10, max_seconds=0.0)
    guard.on_train_begin(None, state, None)
    control = guard.on_step_end(None, state, SimpleNamespace(should_training_stop=False))
    assert control.should_training_stop and guard.guard_fired
    relaxed = StepBudgetCallback(max_steps=10, max_seconds=3600.0)
    relaxed.on_train_begin(None, state, None)
    control = relaxed.on_step_end(None, state, SimpleNamespace(should_training_stop=False))
    assert not control.should_training_stop and not relaxed.guard_fired


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
