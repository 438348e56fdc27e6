"""Segmentation recipes (U-Net, UperNet) end to end on tiny volumes; Dice+CE loss; 3D evaluation."""

import json

import numpy as np
import pytest
import torch
from transformers import UperNetForSemanticSegmentation

import lvmmed_hf
from lvmmed_hf.downstream.segmentation import (
    DiceCELoss,
    LvmMedUNetForSemanticSegmentation,
    SegmentationArguments,
    make_transform,
    predict_label_maps,
    run_segmentation,
    segmentation_folder_dataset,
)
from lvmmed_hf.evaluation import metrics as M


@pytest.mark.parametrize(
    "architecture,cls",
    [("unet", LvmMedUNetForSemanticSegmentation), ("upernet", UperNetForSemanticSegmentation)],
)
def test_segmentation_recipe_trains_saves_reloads_evaluates_3d(
    seg_folders, tmp_path, architecture, cls, tiny_training_args
):
    img_dir, mask_dir = seg_folders
    backbone_dir = tmp_path / "backbone"
    cfg = lvmmed_hf.LvmMedCnnConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"
    )
    torch.manual_seed(0)
    lvmmed_hf.LvmMedCnnModel(cfg).save_pretrained(backbone_dir)
    out = tmp_path / architecture
    args = SegmentationArguments(
        architecture=architecture,
        backbone=str(backbone_dir),
        image_dir=str(img_dir),
        mask_dir=str(mask_dir),
        num_labels=2,
        image_size=32,
        validation_fraction=0.25,
    )
    results = run_segmentation(args, tiny_training_args(out))
    details = results["details"]
    assert details["num_volumes"] == 1  # 25% of 4 volumes held out, whole volumes
    saved = json.loads((out / "results.json").read_text())
    assert (
        "volume_mean_dice" in saved["results"][0]["metrics"] or saved["details"]["volume_mean_dice"] is None
    )
    # Reload and recompute the 3D Dice independently from the predictions of the reloaded model.
    model = cls.from_pretrained(out).eval()
    ds = segmentation_folder_dataset(img_dir, mask_dir)
    held = sorted(set(ds["volume_id"]) - set(_train_volumes(out, ds)))
    assert len(held) == 1
    test = ds.filter(lambda r: r["volume_id"] in held)
    processor = lvmmed_hf.LvmMedImageProcessor.from_pretrained(out)
    preds, refs = predict_label_maps(
        model, test.with_transform(make_transform(processor, "image", "mask", 32))
    )
    vol = M.volume_dice_iou(preds, refs, test["volume_id"], test["slice_index"], 2)
    np.testing.assert_allclose(vol["dice_per_class"], details["volume_dice_per_class"], equal_nan=True)


def _train_volumes(out, ds):
    # ensure_splits is deterministic in the seed (0): recompute which volumes trained.
    from lvmmed_hf.downstream.data import group_split_indices

    keep, _ = group_split_indices(ds["volume_id"], 0.25, seed=0)
    return {ds["volume_id"][i] for i in keep}


def test_backbone_weights_are_loaded(tmp_path):
    from lvmmed_hf.downstream.segmentation import build_segmentation_model

    cfg = lvmmed_hf.LvmMedCnnConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"
    )
    torch.manual_seed(3)
    bb = lvmmed_hf.LvmMedCnnModel(cfg)
    bb.save_pretrained(tmp_path)
    for arch in ("unet", "upernet"):
        model = build_segmentation_model(arch, str(tmp_path), 2)
        got = model.backbone.lvmmed.state_dict()
        for k, v in bb.state_dict().items():
            assert torch.equal(got[k], v), (arch, k)


def test_dice_ce_loss_against_hand_values():
    # One pixel row, 2 classes, logits chosen so softmax is exact: p(class1) = [0.5, 0.5] for two pixels
    # with labels [0, 1]. CE = ln 2 per pixel. Soft Dice class0: 2*0.5 / (1 + 1) = 0.5; class1 the same.
    # Loss = ln 2 + (1 - 0.5) = 1.1931...
    logits = torch.zeros(1, 2, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    loss = DiceCELoss(smooth=0.0)(logits, labels)
    assert loss.item() == pytest.approx(np.log(2) + 0.5, rel=1e-6)
    # Confident correct logits: loss close to 0.
    good = torch.tensor([[[[20.0, -20.0]], [[-20.0, 20.0]]]])
    assert DiceCELoss()(good, labels).item() < 1e-6
    # Ignored pixels do not count: ignoring the wrong pixel of a half-wrong prediction gives ~0.
    half = torch.tensor([[[[20.0, 20.0]], [[-20.0, -20.0]]]])  # predicts class 0 everywhere
    assert DiceCELoss(ignore_index=255)(half, torch.tensor([[[0, 255]]])).item() < 1e-5


def test_upernet_with_the_vit_backbone_forward_backward():
    from lvmmed_hf.downstream.segmentation import build_segmentation_model

    model = build_segmentation_model("upernet", "tiny-vit", 3, image_size=64)
    assert isinstance(model.backbone, lvmmed_hf.LvmMedViTBackbone)
    x = torch.randn(2, 3, 64, 64)
    logits = model(pixel_values=x).logits
    assert logits.shape == (2, 3, 64, 64)
    DiceCELoss()(logits, torch.randint(0, 3, (2, 64, 64))).backward()
    assert model.backbone.lvmmed.blocks[0].attn.qkv.weight.grad is not None


class _LabelReplay(torch.nn.Module):
    """Logits that put each pixel in its reference class (half resolution: the recipe upsamples)."""

    def __init__(self, refs, num_labels):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.refs, self.num_labels = [torch.as_tensor(r) for r in refs], num_labels

    def forward(self, pixel_values):
        n = pixel_values.shape[0]
        batch, self.refs = torch.stack(self.refs[:n]), self.refs[n:]
        onehot = torch.nn.functional.one_hot(batch, self.num_labels).permute(0, 3, 1, 2).float()
        return type("Out", (), {"logits": onehot[..., ::2, ::2] * 10})()


def test_perfect_segmentation_scores_dice_one_in_2d_and_3d():
    from lvmmed_hf.downstream.segmentation import predict_label_maps, segmentation_scores

    rng = np.random.default_rng(0)
    # Label maps constant on 2x2 blocks, so the half-resolution logits upsample back exactly.
    refs = np.kron(rng.integers(0, 3, (6, 8, 8)), np.ones((2, 2), dtype=np.int64))
    items = [{"pixel_values": torch.zeros(3, 16, 16), "labels": torch.as_tensor(r)} for r in refs]
    preds, got_refs = predict_label_maps(_LabelReplay(refs, 3), items, batch_size=4)
    np.testing.assert_array_equal(np.stack(got_refs), refs)
    scores = segmentation_scores(
        preds, got_refs, 3, volume_ids=["a", "a", "a", "b", "b", "b"], slice_indices=[2, 0, 1, 0, 1, 2]
    )
    assert scores["mean_dice"] == 1.0 and scores["mean_iou"] == 1.0
    assert scores["volume_mean_dice"] == 1.0 and scores["num_volumes"] == 2
    # One wrong pixel class in one slice: below 1, and as the metrics module says.
    preds[0] = preds[0].copy()
    preds[0][0, 0] = (refs[0][0, 0] + 1) % 3
    worse = segmentation_scores(preds, got_refs, 3)
    expected = M.dice_per_class(np.stack(preds), refs, 3)[1:].mean()
    assert worse["mean_dice"] < 1.0 and worse["mean_dice"] == pytest.approx(expected)
