"""Object detection: the LVM-Med CNN (stride 32) as the backbone of DETR or Conditional DETR
(transformers has no Faster R-CNN, the paper's detector). Evaluation: VOC mAP@0.5 over all queries,
in normalised coordinates (equal to mAP in pixels: IoU is invariant to the per-axis resize).
Data: an ``objects`` column ``{"bbox": [[x, y, w, h], ...], "category": [...]}`` (COCO boxes in
pixels, the Hub's convention) or a COCO JSON file with an image folder.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict, load_dataset
from datasets import Image as ImageFeature
from transformers import (
    ConditionalDetrConfig,
    ConditionalDetrForObjectDetection,
    DetrConfig,
    DetrForObjectDetection,
    TrainingArguments,
    set_seed,
)
from transformers.hf_argparser import HfArg
from transformers.image_transforms import center_to_corners_format, corners_to_center_format
from transformers.models.detr.image_processing_pil_detr import DetrImageProcessorPil

from ..evaluation import metrics as M
from .backbones import backbone_config, image_processor_for, is_checkpoint_dir, load_backbone_weights
from .data import batches, ensure_splits, pixel_values, recipe_results, save_run, train

logger = logging.getLogger(__name__)

DETECTORS = {
    "detr": (DetrConfig, DetrForObjectDetection),
    "conditional_detr": (ConditionalDetrConfig, ConditionalDetrForObjectDetection),
}


def coco_dataset(
    annotations_file: str | os.PathLike, image_dir: str | os.PathLike
) -> tuple[Dataset, list[str]]:
    """A dataset with ``image`` and ``objects`` from a COCO JSON file, and the category names
    (categories renumbered 0..C-1 in the order of their ids)."""
    coco = json.loads(Path(annotations_file).read_text())
    for key in ("images", "annotations", "categories"):
        if key not in coco:
            raise ValueError(f"{annotations_file}: not a COCO file (no {key!r})")
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    remap = {c["id"]: i for i, c in enumerate(cats)}
    per_image: dict[Any, dict[str, list]] = {im["id"]: {"bbox": [], "category": []} for im in coco["images"]}
    for ann in coco["annotations"]:
        per_image[ann["image_id"]]["bbox"].append([float(v) for v in ann["bbox"]])
        per_image[ann["image_id"]]["category"].append(remap[ann["category_id"]])
    images = [str(Path(image_dir) / im["file_name"]) for im in coco["images"]]
    ds = Dataset.from_dict({"image": images, "objects": [per_image[im["id"]] for im in coco["images"]]})
    return ds.cast_column("image", ImageFeature()), [c["name"] for c in cats]


def build_detector(
    backbone: str,
    num_labels: int,
    id2label: dict[int, str] | None = None,
    detector: str = "conditional_detr",
    **detector_kwargs,
):
    """A DETR-family detector whose backbone is the LVM-Med CNN ``backbone`` (folder: weights loaded)."""
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {tuple(DETECTORS)}, got {detector!r}")
    bcfg = backbone_config(backbone)
    if bcfg.model_type != "lvmmed_cnn":
        raise ValueError(
            f"detection needs an lvmmed_cnn backbone (DETR uses a stride-32 CNN map), got {bcfg.model_type!r}"
        )
    bcfg.set_output_features_output_indices(out_features=[bcfg.stage_names[-1]], out_indices=None)
    id2label = id2label or {i: str(i) for i in range(num_labels)}
    common = dict(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=bcfg,
        backbone=None,
        num_labels=num_labels,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        **detector_kwargs,
    )
    config_class, model_class = DETECTORS[detector]
    model = model_class(config_class(**common))
    if is_checkpoint_dir(backbone):
        load_backbone_weights(model.model.backbone.model, backbone)
    return model


def coco_to_corners(boxes: np.ndarray) -> np.ndarray:
    """COCO ``(x, y, w, h)`` boxes (N, 4) -> ``(x_min, y_min, x_max, y_max)``, same units."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def coco_to_normalised_center(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """COCO ``(x, y, w, h)`` pixel boxes -> DETR's targets, ``(cx, cy, w, h)`` as fractions of the
    image side, clipped to [0, 1] (transformers' ``corners_to_center_format``)."""
    center = corners_to_center_format(coco_to_corners(boxes))
    return np.clip(center / np.array([width, height, width, height], dtype=np.float32), 0.0, 1.0)


def make_detection_transform(processor, image_column: str = "image", objects_column: str = "objects"):
    """Batch transform: pixel values at the processor's size and DETR labels (normalised cx, cy, w, h)."""

    def transform(batch):
        labels = [
            {
                "class_labels": torch.tensor(obj["category"], dtype=torch.long),
                "boxes": torch.from_numpy(coco_to_normalised_center(obj["bbox"], *im.size)),
            }
            for im, obj in zip(batch[image_column], batch[objects_column])
        ]
        return {"pixel_values": pixel_values(processor, batch[image_column]), "labels": labels}

    return transform


def _collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    # No pixel_mask: the images are not padded, and the detectors default to an all-ones mask.
    return {
        "pixel_values": torch.stack([b["pixel_values"] for b in batch]),
        "labels": [b["labels"] for b in batch],
    }


@torch.no_grad()
def evaluate_detector(model, dataset, batch_size: int = 4, iou_threshold: float = 0.5) -> dict[str, Any]:
    """VOC mAP@``iou_threshold`` of every query's best non-background class and score, in normalised
    coordinates (Conditional DETR's processor would keep the top-k (query, class) pairs instead)."""
    model.eval()
    device = next(model.parameters()).device
    is_detr = getattr(model.config, "model_type", None) == "detr"
    preds, refs = [], []
    for b in batches(dataset, batch_size, _collate):
        out = model(pixel_values=b["pixel_values"].to(device))
        out.logits, out.pred_boxes = out.logits.float().cpu(), out.pred_boxes.float().cpu()
        if is_detr:
            found = DetrImageProcessorPil().post_process_object_detection(out, threshold=-1.0)
        else:
            scores, labels = out.logits.sigmoid().max(-1)
            boxes = center_to_corners_format(out.pred_boxes)
            found = [{"scores": s, "labels": la, "boxes": bx} for s, la, bx in zip(scores, labels, boxes)]
        for f, ref in zip(found, b["labels"]):
            preds.append({k: f[k].numpy() for k in ("boxes", "scores", "labels")})
            boxes = center_to_corners_format(ref["boxes"]).numpy()
            refs.append({"boxes": boxes, "labels": ref["class_labels"].numpy()})
    ap = M.average_precision_per_class(preds, refs, iou_threshold)
    return {"map50": float(np.mean(list(ap.values()))) if ap else float("nan"), "ap50_per_class": ap}


@dataclass
class DetectionArguments:
    backbone: str = HfArg(
        default="resnet50", help="LVM-Med CNN checkpoint folder or preset (tiny-cnn, resnet50)"
    )
    detector: str = HfArg(default="conditional_detr", help="detr or conditional_detr")
    dataset_dir: str | None = HfArg(
        default=None, help="prepared dataset with an objects column (COCO xywh boxes)"
    )
    dataset_config: str | None = None
    annotations_file: str | None = HfArg(default=None, help="COCO JSON (with image_dir)")
    image_dir: str | None = None
    image_column: str = "image"
    objects_column: str = "objects"
    image_size: int = 512
    num_queries: int = 100
    d_model: int = 256
    encoder_layers: int = 6
    decoder_layers: int = 6
    attention_heads: int = 8
    ffn_dim: int = 2048
    validation_fraction: float = 0.2
    test_split: str | None = "test"
    dataset_name: str | None = None


def run_detection(args: DetectionArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Train the detector, evaluate mAP@0.5 on the test (or validation) split, save model, results, card."""
    if (args.dataset_dir is None) == (args.annotations_file is None):
        raise ValueError("give exactly one of dataset_dir and annotations_file (+ image_dir)")
    if args.dataset_dir is not None:
        ds = load_dataset(args.dataset_dir, args.dataset_config)
        feat = ds["train"].features[args.objects_column]
        cat = feat["category"] if isinstance(feat, dict) else feat.feature["category"]
        names = getattr(getattr(cat, "feature", cat), "names", None)
        if names is None:
            n = 1 + max(max(o["category"], default=-1) for o in ds["train"][args.objects_column])
            names = [str(i) for i in range(n)]
    elif args.image_dir is None:
        raise ValueError("annotations_file needs image_dir")
    else:
        full, names = coco_dataset(args.annotations_file, args.image_dir)
        ds = DatasetDict({"train": full})
    ds = ensure_splits(ds, args.validation_fraction, None, training_args.seed)
    id2label = dict(enumerate(names))
    sizes = {k: getattr(args, k) for k in ("num_queries", "d_model", "encoder_layers", "decoder_layers")}
    for side in ("encoder", "decoder"):
        sizes.update({f"{side}_attention_heads": args.attention_heads, f"{side}_ffn_dim": args.ffn_dim})
    set_seed(training_args.seed)  # the detector's initialisation: same seed, same run
    model = build_detector(args.backbone, len(names), id2label, args.detector, **sizes)
    processor = image_processor_for(args.backbone, args.image_size)
    transform = make_detection_transform(processor, args.image_column, args.objects_column)
    trainer = train(model, training_args, ds["train"].with_transform(transform), _collate)
    test_name = args.test_split if args.test_split in ds else "validation"
    scores = evaluate_detector(
        model, ds[test_name].with_transform(transform), training_args.per_device_eval_batch_size
    )
    results = recipe_results(
        "object-detection",
        {
            "name": args.dataset_name or Path(args.dataset_dir or args.annotations_file).stem,
            "split": test_name,
        },
        f"{args.detector} with the LVM-Med backbone, VOC mAP@0.5",
        {"map50": scores["map50"]} if scores["map50"] == scores["map50"] else {},
        ap50_per_class={names[k]: v for k, v in scores["ap50_per_class"].items()},
    )
    return save_run(trainer, processor, results)
