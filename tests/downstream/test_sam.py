"""Box-prompted SAM recipe: LVM-Med ViT inside transformers' SamModel, only the mask decoder trains."""

import json

import numpy as np
import pytest
import torch
from transformers import SamModel

from lvmmed_hf.downstream.sam import SamArguments, box_from_mask, build_sam_model, run_sam, sam_mask_loss
from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig
from lvmmed_hf.models.modeling_lvmmed_vit import LvmMedViTModel

TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    mlp_dim=64,
    image_size=64,
    patch_size=8,
    window_size=4,
    global_attn_indexes=[1],
    output_channels=32,
)


def _vit_dir(tmp_path, use_neck):
    torch.manual_seed(0)
    vit = LvmMedViTModel(LvmMedViTConfig(use_neck=use_neck, **TINY))
    d = tmp_path / f"vit_neck{int(use_neck)}"
    vit.save_pretrained(d)
    return d, vit


def _step(model):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 64, 64)
    boxes = torch.tensor([[[8.0, 8.0, 40.0, 40.0]], [[20.0, 10.0, 60.0, 50.0]]])
    labels = torch.zeros(2, 64, 64)
    labels[0, 8:40, 8:40] = 1
    labels[1, 10:50, 20:60] = 1
    model.train()
    out = model(pixel_values=x, input_boxes=boxes, multimask_output=False)
    sam_mask_loss(out.pred_masks, labels).backward()
    opt.step()
    return {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}


def test_only_mask_decoder_changes_after_a_step(tmp_path):
    d, vit = _vit_dir(tmp_path, use_neck=True)
    model, trainable = build_sam_model(str(d))
    assert trainable == ["mask_decoder."]
    # The encoder weights are the ViT's, neck included (checked on one block and the neck).
    sd = model.state_dict()
    assert torch.equal(
        sd["vision_encoder.layers.1.attn.qkv.weight"], vit.state_dict()["blocks.1.attn.qkv.weight"]
    )
    assert torch.equal(sd["vision_encoder.neck.conv1.weight"], vit.state_dict()["neck.0.weight"])
    changed = _step(model)
    assert changed, "nothing was trained"
    assert all(k.startswith("mask_decoder.") for k in changed), sorted(changed)[:5]
    # Every trainable decoder tensor that gets a gradient moved: the decoder really trains.
    assert any("output_hypernetworks_mlps" in k for k in changed)


def test_new_neck_trains_with_decoder_when_vit_has_none(tmp_path):
    d, _ = _vit_dir(tmp_path, use_neck=False)
    model, trainable = build_sam_model(str(d))
    assert trainable == ["mask_decoder.", "vision_encoder.neck."]
    changed = _step(model)
    assert any(k.startswith("vision_encoder.neck.") for k in changed)
    assert all(k.startswith(("mask_decoder.", "vision_encoder.neck.")) for k in changed)


def test_box_from_mask_and_jitter():
    m = np.zeros((20, 30), bool)
    m[5:10, 12:20] = True
    np.testing.assert_array_equal(box_from_mask(m), [12, 5, 20, 10])
    rng = np.random.default_rng(0)
    for _ in range(50):
        b = box_from_mask(m, jitter=3, rng=rng)
        assert np.all(np.abs(b - [12, 5, 20, 10]) <= 3) and 0 <= b[0] < b[2] <= 30 and 0 <= b[1] < b[3] <= 20
    assert box_from_mask(np.zeros((4, 4), bool)) is None


def test_sam_recipe_end_to_end(seg_folders, tmp_path, tiny_training_args):
    img_dir, mask_dir = seg_folders
    d, _ = _vit_dir(tmp_path, use_neck=True)
    out = tmp_path / "sam"
    args = SamArguments(
        backbone=str(d),
        image_dir=str(img_dir),
        mask_dir=str(mask_dir),
        image_size=64,
        box_jitter=4,
        validation_fraction=0.25,
    )
    targs = tiny_training_args(out, max_steps=2)
    results = run_sam(args, targs)
    assert 0.0 <= results["results"][0]["metrics"]["dice"] <= 1.0
    # A stock SamModel folder: reloads without this package's classes and predicts.
    reloaded = SamModel.from_pretrained(out).eval()
    out_masks = reloaded(
        pixel_values=torch.randn(1, 3, 64, 64),
        input_boxes=torch.tensor([[[8.0, 8.0, 40.0, 40.0]]]),
        multimask_output=False,
    ).pred_masks
    assert out_masks.shape[-2:] == (32, 32)
    assert json.loads((out / "results.json").read_text())["trainable"] == ["mask_decoder."]


class _MaskReplay(torch.nn.Module):
    """Returns the given masks as SAM mask logits (+5 inside, -5 outside), batch after batch."""

    def __init__(self, masks):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.masks = [torch.as_tensor(m, dtype=torch.float32) for m in masks]

    def forward(self, pixel_values, input_boxes, multimask_output=False):
        n = pixel_values.shape[0]
        batch, self.masks = torch.stack(self.masks[:n]), self.masks[n:]
        return type("Out", (), {"pred_masks": (batch * 10 - 5)[:, None, None]})()


def _sam_items(refs):
    return [
        {"pixel_values": torch.zeros(3, 8, 8), "input_boxes": torch.zeros(1, 4), "labels": torch.as_tensor(r)}
        for r in refs
    ]


def test_sam_dice_is_the_metrics_dice_and_a_perfect_mask_scores_one():
    from lvmmed_hf.downstream.sam import evaluate_sam
    from lvmmed_hf.evaluation.metrics import dice_scores, iou_scores

    rng = np.random.default_rng(0)
    refs = (rng.random((5, 16, 16)) < 0.3).astype(np.float32)
    refs[3] = 0  # an empty reference is left out
    preds = (rng.random((5, 16, 16)) < 0.4).astype(np.float32)
    perfect = evaluate_sam(_MaskReplay(refs), _sam_items(refs), batch_size=2)
    assert perfect["dice"] == 1.0 and perfect["iou"] == 1.0 and perfect["num_images"] == 4

    scores = evaluate_sam(_MaskReplay(preds), _sam_items(refs), batch_size=2)
    keep = [0, 1, 2, 4]
    d = dice_scores(preds[keep].astype(int), refs[keep].astype(int), num_classes=2)[:, 1]
    i = iou_scores(preds[keep].astype(int), refs[keep].astype(int), num_classes=2)[:, 1]
    assert scores["dice"] == pytest.approx(d.mean()) and scores["iou"] == pytest.approx(i.mean())
    # And by hand: Dice = 2 |P & R| / (|P| + |R|).
    p, r = preds[keep] > 0, refs[keep] > 0
    by_hand = 2 * (p & r).sum((1, 2)) / (p.sum((1, 2)) + r.sum((1, 2)))
    assert scores["dice"] == pytest.approx(by_hand.mean())
