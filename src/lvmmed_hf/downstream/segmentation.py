"""Semantic segmentation with LVM-Med backbones: the paper's U-Net (R50 encoder) and transformers' UperNet.
``unet``: the LVM-Med CNN as the encoder of the segmentation_models_pytorch U-Net the authors used;
``upernet``: transformers' UperNet with our CNN or ViT as ``backbone_config``. Loss: CE + soft
Dice. Evaluation: Dice/IoU per class on the 2D slices and, given volume ids and slice indices, on
3D volumes stacked from the slice predictions (the paper's 3D protocol), at ``image_size``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict, load_dataset
from datasets import Image as ImageFeature
from PIL import Image
from torch import nn
from transformers import (
    CONFIG_MAPPING,
    AutoConfig,
    PreTrainedConfig,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
    UperNetConfig,
    UperNetForSemanticSegmentation,
    set_seed,
)
from transformers.hf_argparser import HfArg
from transformers.modeling_outputs import SemanticSegmenterOutput

from ..evaluation import metrics as M
from ..models import LvmMedCnnBackbone
from .backbones import (
    backbone_config,
    image_processor_for,
    is_checkpoint_dir,
    load_backbone_weights,
    model_type_of,
)
from .data import batches, ensure_splits, pixel_values, recipe_results, save_run, train

logger = logging.getLogger(__name__)


def resize_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) logits to ``size`` (H, W) when they differ."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class DiceCELoss(nn.Module):
    """``ce_weight * CE + dice_weight * (1 - mean soft Dice)``; soft Dice per class over the batch,
    2 sum(p y) / (sum(p) + sum(y)) on softmax probabilities (a class absent from prediction and
    target scores 1 through ``smooth``); ``ignore_index`` pixels count in neither term."""

    def __init__(
        self, ce_weight: float = 1.0, dice_weight: float = 1.0, ignore_index: int = 255, smooth: float = 1e-5
    ):
        super().__init__()
        self.ce_weight, self.dice_weight = ce_weight, dice_weight
        self.ignore_index, self.smooth = ignore_index, smooth

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """logits (B, C, H, W); labels (B, H, W) int64."""
        logits = resize_logits(logits, labels.shape[-2:])
        ce = F.cross_entropy(logits, labels, ignore_index=self.ignore_index)
        valid = (labels != self.ignore_index).unsqueeze(1)
        target = F.one_hot(labels.clamp(0, logits.shape[1] - 1), logits.shape[1]).permute(0, 3, 1, 2).float()
        probs = logits.softmax(1) * valid
        target = target * valid
        dims = (0, 2, 3)
        dice = (2 * (probs * target).sum(dims) + self.smooth) / (
            probs.sum(dims) + target.sum(dims) + self.smooth
        )
        return self.ce_weight * ce + self.dice_weight * (1 - dice.mean())


def _all_stages(config: PreTrainedConfig, stages: Sequence[int]) -> None:
    config.set_output_features_output_indices(out_features=[f"stage{i}" for i in stages], out_indices=None)


class LvmMedUNetConfig(PreTrainedConfig):
    """U-Net over an LVM-Med CNN encoder (``backbone_config``: an ``LvmMedCnnConfig`` or its dict,
    default ResNet-50). ``decoder_channels``: widths of the five up-sampling blocks (strides 16 to 1),
    default 256-128-64-32-16 scaled by the encoder's width / 2048. ``num_labels`` counts background."""

    model_type = "lvmmed_unet"
    sub_configs = {"backbone_config": AutoConfig}

    def __init__(self, backbone_config=None, decoder_channels=None, **kwargs):
        if backbone_config is None:
            backbone_config = CONFIG_MAPPING["lvmmed_cnn"]()
        elif isinstance(backbone_config, dict):
            backbone_config = CONFIG_MAPPING[backbone_config["model_type"]](**backbone_config)
        if backbone_config.model_type != "lvmmed_cnn":
            raise ValueError(
                f"LvmMedUNet needs an lvmmed_cnn backbone_config, got {backbone_config.model_type!r}"
            )
        _all_stages(backbone_config, range(1, len(backbone_config.depths) + 1))
        self.backbone_config = backbone_config
        if decoder_channels is None:
            # The paper's widths for a 2048-channel R50, scaled down for narrower encoders.
            scale = backbone_config.hidden_sizes[-1] / 2048
            decoder_channels = [max(8, int(round(c * scale))) for c in (256, 128, 64, 32, 16)]
        self.decoder_channels = [int(c) for c in decoder_channels]
        if len(self.decoder_channels) != 5:
            raise ValueError(
                f"decoder_channels needs 5 widths (strides 16, 8, 4, 2, 1), got {self.decoder_channels}"
            )
        super().__init__(**kwargs)


class _ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class LvmMedUNetForSemanticSegmentation(PreTrainedModel):
    """An ``LvmMedCnnBackbone`` + U-Net decoder + 1x1 classifier: ``pixel_values`` (B, 3, H, W), H
    and W multiples of 32 -> ``logits`` (B, num_labels, H, W) (+ Dice-CE ``loss`` given ``labels``)."""

    config_class = LvmMedUNetConfig
    base_model_prefix = "unet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def __init__(self, config: LvmMedUNetConfig):
        super().__init__(config)
        self.backbone = LvmMedCnnBackbone(config.backbone_config)
        skips = list(config.backbone_config.hidden_sizes)  # stage1..stage4 widths
        dec = config.decoder_channels
        # Block k takes the upsampled previous map plus the skip at that stride (none for the last two).
        in_ch = [skips[3] + skips[2], dec[0] + skips[1], dec[1] + skips[0], dec[2], dec[3]]
        self.decoder = nn.ModuleList([_ConvBlock(i, o) for i, o in zip(in_ch, dec)])
        self.classifier = nn.Conv2d(dec[-1], config.num_labels, 1)
        self.loss_fct = DiceCELoss()
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()  # weight 1, bias 0, running statistics reset

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        if pixel_values.shape[-1] % 32 or pixel_values.shape[-2] % 32:
            raise ValueError(
                "pixel_values: height and width must be multiples of 32, got "
                f"{tuple(pixel_values.shape[-2:])}"
            )
        s1, s2, s3, s4 = self.backbone(pixel_values, return_dict=True).feature_maps
        x = s4
        for block, skip in zip(self.decoder, (s3, s2, s1, None, None)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(torch.cat([x, skip], 1) if skip is not None else x)
        # s1 is at stride 4, so after five doublings from stride 32 we are at stride 1.
        logits = self.classifier(x)
        loss = self.loss_fct(logits, labels) if labels is not None else None
        return SemanticSegmenterOutput(loss=loss, logits=logits)


AutoConfig.register(LvmMedUNetConfig.model_type, LvmMedUNetConfig, exist_ok=True)


def build_segmentation_model(
    architecture: str,
    backbone: str,
    num_labels: int,
    id2label: dict[int, str] | None = None,
    **backbone_overrides,
) -> PreTrainedModel:
    """A U-Net or UperNet with the LVM-Med backbone ``backbone`` (folder: weights loaded; preset: random)."""
    id2label = id2label or {i: str(i) for i in range(num_labels)}
    labels = dict(num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    bcfg = backbone_config(backbone, **backbone_overrides)
    if architecture == "unet":
        model = LvmMedUNetForSemanticSegmentation(LvmMedUNetConfig(backbone_config=bcfg, **labels))
    elif architecture == "upernet":
        if bcfg.model_type == "lvmmed_cnn":
            _all_stages(bcfg, range(1, len(bcfg.depths) + 1))
            widths = list(bcfg.hidden_sizes)
        else:
            # Four evenly spaced blocks of the ViT, the usual ViT-UperNet choice.
            picks = sorted({max(1, round(bcfg.num_hidden_layers * k / 4)) for k in range(1, 5)})
            _all_stages(bcfg, picks)
            widths = [bcfg.hidden_size] * len(picks)
        hidden = max(16, min(512, widths[-1] // 4))
        cfg = UperNetConfig(
            backbone_config=bcfg,
            hidden_size=hidden,
            auxiliary_in_channels=widths[min(2, len(widths) - 1)],
            auxiliary_channels=max(16, hidden // 2),
            use_auxiliary_head=False,
            **labels,
        )
        model = UperNetForSemanticSegmentation(cfg)
    else:
        raise ValueError(f"architecture must be 'unet' or 'upernet', got {architecture!r}")
    if is_checkpoint_dir(backbone):
        load_backbone_weights(model.backbone, backbone)
    return model


_SLICE_NAME = re.compile(r"^(?P<volume>.+?)[_-](?:slice)?(?P<slice>\d+)$")


def segmentation_folder_dataset(image_dir: str | os.PathLike, mask_dir: str | os.PathLike) -> Dataset:
    """Pair ``image_dir/<name>.*`` with ``mask_dir/<name>.*`` (masks: class index per pixel); when
    every stem reads ``<volume>_<slice number>``, add ``volume_id`` and ``slice_index`` (3D evaluation)."""
    images = {p.stem: p for p in sorted(Path(image_dir).iterdir()) if p.is_file()}
    masks = {p.stem: p for p in sorted(Path(mask_dir).iterdir()) if p.is_file()}
    common = sorted(set(images) & set(masks))
    if not common:
        raise ValueError(f"no image in {image_dir} has a mask of the same name in {mask_dir}")
    if len(common) < len(images):
        logger.warning("%d images have no mask and are skipped", len(images) - len(common))
    data: dict[str, list] = {
        "image": [str(images[s]) for s in common],
        "mask": [str(masks[s]) for s in common],
    }
    matches = [_SLICE_NAME.match(s) for s in common]
    if all(matches):
        data["volume_id"] = [m["volume"] for m in matches]
        data["slice_index"] = [int(m["slice"]) for m in matches]
    ds = Dataset.from_dict(data)
    return ds.cast_column("image", ImageFeature()).cast_column("mask", ImageFeature())


@dataclass
class SegmentationData:
    """Where the images and label masks are (shared with the SAM recipe)."""

    dataset_dir: str | None = HfArg(default=None, help="prepared dataset folder")
    dataset_config: str | None = None
    image_dir: str | None = HfArg(default=None, help="folder of images (paired with mask_dir by file name)")
    mask_dir: str | None = None
    image_column: str = "image"
    mask_column: str = "mask"
    volume_column: str = HfArg(default="volume_id", help="volume id column (3D evaluation when present)")
    slice_column: str = "slice_index"
    validation_fraction: float = 0.2
    test_split: str | None = "test"
    dataset_name: str | None = None


@dataclass
class SegmentationArguments(SegmentationData):
    architecture: str = HfArg(default="unet", help="unet (paper, CNN backbones) or upernet (CNN or ViT)")
    backbone: str = HfArg(
        default="resnet50", help="checkpoint folder or preset (tiny-cnn, resnet50, tiny-vit, vit-b)"
    )
    num_labels: int = HfArg(default=2, help="classes including background")
    image_size: int = HfArg(default=224, help="input side in pixels (multiple of 32 for the U-Net)")
    freeze_backbone: bool = False
    ce_weight: float = 1.0
    dice_weight: float = 1.0
    ignore_index: int = 255


def _load_segmentation_data(args: SegmentationData, seed: int) -> DatasetDict:
    if (args.dataset_dir is None) == (args.image_dir is None):
        raise ValueError("give exactly one of dataset_dir and image_dir (+ mask_dir)")
    if args.dataset_dir is not None:
        ds = load_dataset(args.dataset_dir, args.dataset_config)
    elif args.mask_dir is None:
        raise ValueError("image_dir needs mask_dir")
    else:
        ds = DatasetDict({"train": segmentation_folder_dataset(args.image_dir, args.mask_dir)})
    group = args.volume_column if args.volume_column in ds["train"].column_names else None
    # Slices of one volume stay on one side of the split.
    return ensure_splits(ds, args.validation_fraction, group, seed)


def resized_mask(mask: Image.Image, size: int) -> np.ndarray:
    """A label mask resized (nearest) to ``size`` x ``size``, as int64."""
    return np.asarray(mask.resize((size, size), Image.NEAREST)).astype(np.int64)


def make_transform(processor, image_column: str, mask_column: str, size: int):
    """Batch transform: images through the processor, masks resized (nearest) to ``size``."""

    def transform(batch: dict[str, list]) -> dict[str, list]:
        out = {k: v for k, v in batch.items() if k not in (image_column, mask_column)}
        labels = [torch.from_numpy(resized_mask(m, size)) for m in batch[mask_column]]
        return {"pixel_values": pixel_values(processor, batch[image_column]), "labels": labels, **out}

    return transform


class SegmentationTrainer(Trainer):
    """Trainer with the Dice + CE loss on the model's logits (UperNet's own loss is CE only)."""

    def __init__(self, *args, seg_loss: DiceCELoss | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.seg_loss = seg_loss or DiceCELoss()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(pixel_values=inputs["pixel_values"])
        loss = self.seg_loss(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss


@torch.no_grad()
def predict_label_maps(
    model: nn.Module, dataset, batch_size: int = 8
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Argmax label maps and references for every example of a transformed dataset."""
    model.eval()
    device = next(model.parameters()).device
    preds, refs = [], []
    for batch in batches(dataset, batch_size, desc="segmenting"):
        logits = model(pixel_values=batch["pixel_values"].to(device)).logits
        logits = resize_logits(logits, batch["labels"].shape[-2:])
        preds.extend(logits.argmax(1).cpu().numpy())
        refs.extend(batch["labels"].numpy())
    return preds, refs


def segmentation_scores(
    preds: list[np.ndarray],
    refs: list[np.ndarray],
    num_labels: int,
    ignore_index: int | None = 255,
    volume_ids: list | None = None,
    slice_indices: list | None = None,
) -> dict[str, Any]:
    """2D (per-slice) and, given volume ids, 3D (per-volume) Dice/IoU; the means are over the
    foreground classes 1..C-1 (as medical segmentation papers report), NaN entries left out."""
    fg = slice(1, None) if num_labels > 1 else slice(None)
    d2 = M.dice_per_class(np.stack(preds), np.stack(refs), num_labels, ignore_index=ignore_index)
    i2 = M.iou_per_class(np.stack(preds), np.stack(refs), num_labels, ignore_index=ignore_index)
    out: dict[str, Any] = {
        "dice_per_class": d2.tolist(),
        "iou_per_class": i2.tolist(),
        "mean_dice": M._nanmean(d2[fg]),
        "mean_iou": M._nanmean(i2[fg]),
    }
    if volume_ids is not None and slice_indices is not None:
        v = M.volume_dice_iou(preds, refs, volume_ids, slice_indices, num_labels, ignore_index=ignore_index)
        out.update(
            {
                "volume_dice_per_class": v["dice_per_class"].tolist(),
                "volume_iou_per_class": v["iou_per_class"].tolist(),
                "volume_mean_dice": M._nanmean(v["dice_per_class"][fg]),
                "volume_mean_iou": M._nanmean(v["iou_per_class"][fg]),
                "num_volumes": len(v["volume_ids"]),
            }
        )
    return out


def run_segmentation(args: SegmentationArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Train, evaluate (2D and 3D when volumes are known), save model, processor, results.json, card."""
    ds = _load_segmentation_data(args, training_args.seed)
    processor = image_processor_for(args.backbone, args.image_size)
    overrides = {"image_size": args.image_size} if model_type_of(args.backbone) == "lvmmed_vit" else {}
    set_seed(training_args.seed)  # the decoder's initialisation: same seed, same run
    model = build_segmentation_model(args.architecture, args.backbone, args.num_labels, **overrides)
    if args.freeze_backbone:
        model.backbone.requires_grad_(False)
    transform = make_transform(processor, args.image_column, args.mask_column, args.image_size)
    loss = DiceCELoss(args.ce_weight, args.dice_weight, args.ignore_index)
    train_set = ds["train"].with_transform(transform)
    trainer = train(model, training_args, train_set, trainer_class=SegmentationTrainer, seg_loss=loss)
    test_name = args.test_split if args.test_split in ds else "validation"
    test = ds[test_name]
    batch_size = training_args.per_device_eval_batch_size
    preds, refs = predict_label_maps(model, test.with_transform(transform), batch_size)
    volumes = {}
    if args.volume_column in test.column_names and args.slice_column in test.column_names:
        volumes = {"volume_ids": test[args.volume_column], "slice_indices": test[args.slice_column]}
    scores = segmentation_scores(preds, refs, args.num_labels, args.ignore_index, **volumes)
    results = recipe_results(
        "image-segmentation",
        {"name": args.dataset_name or Path(args.dataset_dir or args.image_dir).name, "split": test_name},
        f"{args.architecture}, Dice+CE" + (", frozen backbone" if args.freeze_backbone else ", fine-tuned"),
        {k: v for k, v in scores.items() if isinstance(v, float) and not math.isnan(v)},
        details=scores,
    )
    return save_run(trainer, processor, results)
