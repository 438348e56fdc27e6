"""Box-prompted segmentation: the LVM-Med ViT as the image encoder of transformers' ``SamModel``.
As MedSAM and the paper (Sec. 4.2): only the mask decoder trains (plus SAM's neck, new, for a ViT
without one), on one box per image from the mask, jittered in training. Prompt encoder and decoder
start from ``sam_checkpoint`` (a local SAM folder) when given. Images are resized to the square
``image_size`` (no SAM-style padding). The result is a stock ``SamModel`` folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    SamConfig,
    SamMaskDecoderConfig,
    SamModel,
    SamPromptEncoderConfig,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.hf_argparser import HfArg

from ..evaluation import metrics as M
from ..models.conversion import read_backbone_weights
from ..models.conversion_vit import lvmmed_vit_to_hf_sam_config, lvmmed_vit_to_hf_sam_state_dict
from .backbones import backbone_config, image_processor_for, is_checkpoint_dir
from .data import batches, pixel_values, recipe_results, save_run, stack_batch, train
from .segmentation import SegmentationData, _load_segmentation_data, resize_logits, resized_mask

logger = logging.getLogger(__name__)


def build_sam_model(
    backbone: str, image_size: int | None = None, sam_checkpoint: str | None = None
) -> tuple[SamModel, list[str]]:
    """A ``SamModel`` whose vision encoder holds the LVM-Med ViT ``backbone`` (folder or preset), and
    its trainable parameter prefixes (``mask_decoder.``, plus ``vision_encoder.neck.`` for a ViT
    without neck); everything else is frozen."""
    overrides = {"image_size": image_size} if image_size else {}
    vit_cfg = backbone_config(backbone, **overrides)
    if vit_cfg.model_type != "lvmmed_vit":
        raise ValueError(
            f"the SAM recipe needs an lvmmed_vit backbone, got {vit_cfg.model_type!r} ({backbone})"
        )
    if vit_cfg.image_size % vit_cfg.patch_size:
        raise ValueError(
            f"image_size {vit_cfg.image_size} is not a multiple of patch_size {vit_cfg.patch_size}"
        )
    vision = lvmmed_vit_to_hf_sam_config(vit_cfg)
    width = vit_cfg.output_channels
    # SAM's random-Fourier box/point encoding has width 2 * num_pos_feats = the decoder width.
    vision.num_pos_feats = width // 2
    config = SamConfig(
        vision_config=vision.to_dict(),
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=width, image_size=vit_cfg.image_size, patch_size=vit_cfg.patch_size
        ).to_dict(),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=width,
            mlp_dim=8 * width,
            num_attention_heads=8 if width % 8 == 0 and width >= 64 else 2,
            iou_head_hidden_dim=width,
        ).to_dict(),
    )
    model = SamModel(config)
    has_neck = bool(vit_cfg.use_neck)
    if is_checkpoint_dir(backbone):
        # A converted release keeps SAM's neck, whose output the mask decoder reads: it stays frozen.
        mapped = lvmmed_vit_to_hf_sam_state_dict(read_backbone_weights(backbone))
        has_neck = any(".neck." in k for k in mapped)
        missing, unexpected = model.load_state_dict(mapped, strict=False)
        missing_encoder = [k for k in missing if k.startswith("vision_encoder.") and ".neck." not in k]
        if missing_encoder or unexpected:
            raise ValueError(
                f"{backbone}: encoder weights do not fit SAM (missing {missing_encoder[:5]}, "
                f"unexpected {unexpected[:5]})"
            )
    if sam_checkpoint is not None:
        ref = SamModel.from_pretrained(sam_checkpoint)
        for part in ("prompt_encoder", "mask_decoder", "shared_image_embedding"):
            getattr(model, part).load_state_dict(getattr(ref, part).state_dict())
        logger.info("prompt encoder and mask decoder initialised from %s", sam_checkpoint)
    trainable = ["mask_decoder."] + ([] if has_neck else ["vision_encoder.neck."])
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(tuple(trainable)))
    logger.info(
        "SAM: training %s (%d parameters), frozen: image encoder, prompt encoder",
        trainable,
        sum(p.numel() for p in model.parameters() if p.requires_grad),
    )
    return model, trainable


def box_from_mask(
    mask: np.ndarray, jitter: int = 0, rng: np.random.Generator | None = None
) -> np.ndarray | None:
    """Tight box ``(x_min, y_min, x_max, y_max)`` in pixels around ``mask > 0`` (None if empty), each
    coordinate moved by a uniform random offset in [-jitter, jitter], clipped to the image."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
    if jitter:
        rng = rng or np.random.default_rng()
        box = box + rng.integers(-jitter, jitter + 1, 4)
        h, w = mask.shape
        box = np.clip(box, 0, [w, h, w, h])
        box[2], box[3] = max(box[2], box[0] + 1), max(box[3], box[1] + 1)
    return box


def sam_mask_loss(pred_masks: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice (MedSAM's loss). pred_masks (B, 1, 1, h, w) logits; labels (B, H, W) in {0, 1}."""
    logits = resize_logits(pred_masks[:, 0], labels.shape[-2:])[:, 0]
    target = labels.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = logits.sigmoid()
    dice = (2 * (p * target).sum((1, 2)) + 1e-5) / (p.sum((1, 2)) + target.sum((1, 2)) + 1e-5)
    return bce + (1 - dice).mean()


class SamBoxTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = model(
            pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"], multimask_output=False
        )
        loss = sam_mask_loss(out.pred_masks, inputs["labels"])
        return (loss, out) if return_outputs else loss


@dataclass
class SamArguments(SegmentationData):
    backbone: str = HfArg(default="vit-b", help="LVM-Med ViT checkpoint folder or preset (tiny-vit, vit-b)")
    sam_checkpoint: str | None = HfArg(default=None, help="SamModel folder: prompt encoder + mask decoder")
    target_label: int | None = HfArg(default=None, help="segment this mask label (default: all non-zero)")
    image_size: int = HfArg(default=1024, help="encoder input side in pixels (SAM: 1024)")
    box_jitter: int = HfArg(default=20, help="max random box offset in training (px; MedSAM: 20 at 1024)")


def _target(mask: np.ndarray, target_label: int | None) -> np.ndarray:
    return mask > 0 if target_label is None else mask == target_label


def make_sam_transform(processor, args: SamArguments, train: bool, seed: int = 0):
    """Batch transform: pixel values, a box per image (jittered if ``train``), 0/1 mask at ``image_size``."""
    rng = np.random.default_rng(seed)
    size = args.image_size

    def transform(batch: dict[str, list]) -> dict[str, list]:
        boxes, labels = [], []
        for m in batch[args.mask_column]:
            binary = _target(resized_mask(m, size), args.target_label)
            box = box_from_mask(binary, args.box_jitter if train else 0, rng)
            boxes.append(
                torch.tensor(box if box is not None else [0.0, 0.0, size, size], dtype=torch.float32)[None]
            )
            labels.append(torch.from_numpy(binary.astype(np.float32)))
        return {
            "pixel_values": pixel_values(processor, batch[args.image_column]),
            "input_boxes": boxes,
            "labels": labels,
        }

    return transform


_collate = partial(stack_batch, keys=("pixel_values", "input_boxes", "labels"))


@torch.no_grad()
def evaluate_sam(model: SamModel, dataset, batch_size: int = 4) -> dict[str, float]:
    """Mean Dice (and IoU) of the thresholded masks over images with a non-empty reference."""
    model.eval()
    device = next(model.parameters()).device
    preds, refs = [], []
    for b in batches(dataset, batch_size, _collate):
        out = model(
            pixel_values=b["pixel_values"].to(device),
            input_boxes=b["input_boxes"].to(device),
            multimask_output=False,
        )
        logits = resize_logits(out.pred_masks[:, 0], b["labels"].shape[-2:])[:, 0]
        preds.append((logits > 0).cpu().numpy().astype(np.int64))
        refs.append((b["labels"].numpy() > 0.5).astype(np.int64))
    if not preds:
        return {"dice": float("nan"), "iou": float("nan"), "num_images": 0}
    pred, ref = np.concatenate(preds), np.concatenate(refs)
    dice = M.dice_scores(pred, ref, num_classes=2)[:, 1]
    iou = M.iou_scores(pred, ref, num_classes=2)[:, 1]
    scored = ~np.isnan(dice)
    return {
        "dice": float(dice[scored].mean()) if scored.any() else float("nan"),
        "iou": float(iou[scored].mean()) if scored.any() else float("nan"),
        "num_images": int(scored.sum()),
    }


def run_sam(args: SamArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Train SAM's mask decoder on box prompts, evaluate Dice with exact boxes, save a SamModel folder."""
    ds = _load_segmentation_data(args, training_args.seed)  # same data layouts as the segmentation recipe
    set_seed(training_args.seed)  # the mask decoder's initialisation: same seed, same run
    model, trainable = build_sam_model(args.backbone, args.image_size, args.sam_checkpoint)
    processor = image_processor_for(args.backbone, args.image_size)

    def non_empty(batch):
        # Images without the target have no box prompt: they cannot train the decoder.
        return [bool(_target(np.asarray(m), args.target_label).any()) for m in batch[args.mask_column]]

    train_set = ds["train"].filter(non_empty, batched=True)
    train_set = train_set.with_transform(make_sam_transform(processor, args, True, training_args.seed))
    trainer = train(model, training_args, train_set, _collate, SamBoxTrainer)
    test_name = args.test_split if args.test_split in ds else "validation"
    test = ds[test_name].with_transform(make_sam_transform(processor, args, False))
    scores = evaluate_sam(model, test, training_args.per_device_eval_batch_size)
    results = recipe_results(
        "mask-generation",
        {"name": args.dataset_name or Path(args.dataset_dir or args.image_dir).name, "split": test_name},
        "box-prompted SAM, mask decoder trained"
        + ("" if trainable == ["mask_decoder."] else " (+ new neck)"),
        {k: v for k, v in scores.items() if k in ("dice", "iou") and v == v},
        trainable=trainable,
    )
    return save_run(trainer, processor, results)
