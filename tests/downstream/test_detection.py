"""Detection recipe: LVM-Med CNN as the backbone of (Conditional) DETR, trained, saved, reloaded, mAP@0.5."""

import json

import pytest
import torch
from transformers import ConditionalDetrForObjectDetection, DetrForObjectDetection

import lvmmed_hf
from lvmmed_hf.downstream.detection import (
    DetectionArguments,
    build_detector,
    coco_dataset,
    evaluate_detector,
    make_detection_transform,
    run_detection,
)

TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")
HEADS = dict(num_queries=10, d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64)


@pytest.fixture
def backbone_dir(tmp_path):
    torch.manual_seed(0)
    bb = lvmmed_hf.LvmMedCnnModel(lvmmed_hf.LvmMedCnnConfig(**TINY))
    bb.save_pretrained(tmp_path / "bb")
    return tmp_path / "bb", bb


def test_coco_categories_are_renumbered(coco_folder):
    ds, names = coco_dataset(coco_folder / "train.json", coco_folder / "images")
    assert names == ["bright", "dark"]  # sorted by COCO id: 7, 9
    assert len(ds) == 12 and set(ds[1]["objects"]["category"]) == {0, 1}


@pytest.mark.parametrize(
    "detector,cls",
    [("conditional_detr", ConditionalDetrForObjectDetection), ("detr", DetrForObjectDetection)],
)
def test_detection_recipe_end_to_end(coco_folder, backbone_dir, tmp_path, detector, cls, tiny_training_args):
    bb_dir, bb = backbone_dir
    out = tmp_path / detector
    args = DetectionArguments(
        backbone=str(bb_dir),
        detector=detector,
        annotations_file=str(coco_folder / "train.json"),
        image_dir=str(coco_folder / "images"),
        image_size=64,
        validation_fraction=0.25,
        **HEADS,
    )
    targs = tiny_training_args(out)
    results = run_detection(args, targs)
    map50 = results["results"][0]["metrics"]["map50"]
    assert 0.0 <= map50 <= 1.0
    # Reload the saved detector and recompute mAP on the same held-out images: identical.
    reloaded = cls.from_pretrained(out)
    assert isinstance(reloaded.model.backbone.model, lvmmed_hf.LvmMedCnnBackbone)
    from datasets import DatasetDict

    from lvmmed_hf.downstream.data import ensure_splits

    ds, _ = coco_dataset(coco_folder / "train.json", coco_folder / "images")
    val = ensure_splits(DatasetDict({"train": ds}), 0.25, None, 0)["validation"]
    processor = lvmmed_hf.LvmMedImageProcessor.from_pretrained(out)
    again = evaluate_detector(reloaded, val.with_transform(make_detection_transform(processor)))
    assert again["map50"] == pytest.approx(map50)
    assert json.loads((out / "results.json").read_text())["results"][0]["metrics"]["map50"] == pytest.approx(
        map50
    )


def test_backbone_weights_loaded_and_trainable(backbone_dir):
    bb_dir, bb = backbone_dir
    model = build_detector(
        str(bb_dir),
        2,
        detector="detr",
        num_queries=5,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
    )
    got = model.model.backbone.model.lvmmed.state_dict()
    for k, v in bb.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue  # DETR's frozen BatchNorm keeps no counter
        assert torch.equal(got[k], v), k
    assert any(p.requires_grad for p in model.model.backbone.parameters())
