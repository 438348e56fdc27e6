"""Image classification with an LVM-Med backbone: linear evaluation or fine-tuning, 1-FCN or multi-FCN.

The paper's protocols (Sec. 4, Tables 2-3): "linear evaluation" trains only the head on frozen
features (``freeze_backbone=True``, BatchNorm statistics fixed); "fine-tuning" trains all weights.
The head is one linear layer (1-FCN, ``classifier_hidden_sizes=[]``) or an MLP (multi-FCN, e.g.
``[512, 256]``).

Data: a prepared dataset folder (``load_dataset(dir, config)``: Parquet shards + README configs),
or an image folder (``class_name/*.png``, read with datasets' offline ``imagefolder`` builder).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainingArguments

from ..evaluation import metrics as M
from .backbones import backbone_config, image_processor_for, is_checkpoint_dir
from .data import ensure_splits, load_image_dataset

logger = logging.getLogger(__name__)


@dataclass
class ClassificationArguments:
    """What to train on and how (the Trainer's own options come from ``TrainingArguments``)."""

    backbone: str = field(
        default="resnet50",
        metadata={
            "help": "save_pretrained folder of an LVM-Med backbone/checkpoint, or a preset "
            "(tiny-cnn, resnet50, tiny-vit, vit-b) for a random initialisation"
        },
    )
    dataset_dir: str | None = field(
        default=None, metadata={"help": "prepared dataset folder (load_dataset(dir, config))"}
    )
    dataset_config: str | None = field(default=None, metadata={"help": "config name inside dataset_dir"})
    image_folder: str | None = field(
        default=None, metadata={"help": "image folder: <class>/<image> (or <split>/<class>/<image>)"}
    )
    image_column: str = field(default="image")
    label_column: str = field(default="label")
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "column whose values never straddle train/validation when splits are made "
            "(e.g. patient id)"
        },
    )
    validation_fraction: float = field(
        default=0.2, metadata={"help": "held out from train when there is no validation split"}
    )
    test_split: str | None = field(
        default="test", metadata={"help": "split evaluated at the end (falls back to validation)"}
    )
    image_size: int = field(default=224, metadata={"help": "input side in pixels"})
    freeze_backbone: bool = field(default=False, metadata={"help": "linear evaluation: train the head only"})
    classifier_hidden_sizes: list[int] = field(
        default_factory=list, metadata={"help": "[] = 1-FCN; e.g. 512 256 = multi-FCN"}
    )
    classifier_dropout: float = field(default=0.0)
    ordinal: bool = field(
        default=False, metadata={"help": "labels are ordered grades: also report quadratic weighted kappa"}
    )
    max_train_samples: int | None = field(default=None)
    max_eval_samples: int | None = field(default=None)
    dataset_name: str | None = field(
        default=None, metadata={"help": "name shown in results.json and the model card"}
    )


def classification_metrics(
    logits: np.ndarray, labels: np.ndarray, num_labels: int, ordinal: bool = False
) -> dict[str, float]:
    """Accuracy, macro-F1, one-vs-rest AUC (NaN when a class is missing from ``labels``) and, for
    ordinal grades, quadratic weighted kappa. ``logits``: (N, C); ``labels``: (N,)."""
    logits = np.asarray(logits, dtype=np.float64)
    preds = logits.argmax(-1)
    out = {
        "accuracy": M.accuracy(preds, labels),
        "macro_f1": M.macro_f1(preds, labels, labels=list(range(num_labels))),
    }
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    try:
        out["roc_auc"] = M.roc_auc(labels, probs[:, 1] if num_labels == 2 else probs)
    except ValueError:
        out["roc_auc"] = math.nan  # a class absent from this split: AUC undefined
    if ordinal:
        out["quadratic_kappa"] = M.quadratic_weighted_kappa(preds, labels, num_classes=num_labels)
    return out


def build_classifier(args: ClassificationArguments, id2label: dict[int, str]):
    """An ``...ForImageClassification`` from a checkpoint folder (backbone weights kept) or a preset."""
    from transformers import AutoModelForImageClassification

    head = dict(
        num_labels=len(id2label),
        id2label={int(k): v for k, v in id2label.items()},
        label2id={v: int(k) for k, v in id2label.items()},
        classifier_hidden_sizes=list(args.classifier_hidden_sizes),
        classifier_dropout=args.classifier_dropout,
        freeze_backbone=args.freeze_backbone,
    )
    if is_checkpoint_dir(args.backbone):
        # A bare backbone or another head loads its "lvmmed.*" weights; the new head is initialised.
        return AutoModelForImageClassification.from_pretrained(
            args.backbone, ignore_mismatched_sizes=True, **head
        )
    config = backbone_config(args.backbone, **head)
    if config.model_type == "lvmmed_vit":
        config.image_size = args.image_size
    return AutoModelForImageClassification.from_config(config)


def _collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    return {
        "pixel_values": torch.stack([b["pixel_values"] for b in batch]),
        "labels": torch.tensor([b["labels"] for b in batch], dtype=torch.long),
    }


def run_classification(args: ClassificationArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Train, evaluate on the test (or validation) split, save model + processor + results.json + card.

    Returns the results object written to ``<output_dir>/results.json``.
    """
    from ..evaluation.model_card import write_model_card

    ds = load_image_dataset(args.dataset_dir, args.dataset_config, args.image_folder)
    ds = ensure_splits(ds, args.validation_fraction, args.group_column, seed=training_args.seed)
    label_feature = ds["train"].features[args.label_column]
    names = getattr(label_feature, "names", None)
    if names is None:
        values = sorted(set(ds["train"][args.label_column]))
        names = [str(v) for v in values]
        mapping = {v: i for i, v in enumerate(values)}
        ds = ds.map(lambda ex: {args.label_column: mapping[ex[args.label_column]]})
    id2label = dict(enumerate(names))

    processor = image_processor_for(args.backbone, args.image_size)

    def transform(batch):
        # Palette / alpha / CMYK images go to RGB; grayscale and 16-bit stay as they are (the processor
        # keeps their range and replicates to 3 channels).
        images = [
            img.convert("RGB")
            if getattr(img, "mode", "L") in ("P", "PA", "RGBA", "LA", "CMYK", "YCbCr")
            else img
            for img in batch[args.image_column]
        ]
        pixel_values = processor(images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": list(pixel_values), "labels": batch[args.label_column]}

    def cap(split, n):
        return split.select(range(min(n, len(split)))) if n else split

    train = cap(ds["train"], args.max_train_samples).with_transform(transform)
    val = cap(ds["validation"], args.max_eval_samples).with_transform(transform)
    test_name = args.test_split if args.test_split in ds else "validation"
    test = cap(ds[test_name], args.max_eval_samples).with_transform(transform)

    model = build_classifier(args, id2label)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "classifier: %d trainable of %d parameters", trainable, sum(p.numel() for p in model.parameters())
    )
    training_args.remove_unused_columns = False

    def compute_metrics(eval_pred):
        return classification_metrics(eval_pred.predictions, eval_pred.label_ids, len(id2label), args.ordinal)

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=_collate,
        compute_metrics=compute_metrics,
    )
    trainer.train()
    metrics = trainer.evaluate(test, metric_key_prefix="test")
    out_dir = Path(training_args.output_dir)
    trainer.save_model(out_dir)
    processor.save_pretrained(out_dir)
    results = {
        "results": [
            {
                "task": "image-classification",
                "dataset": {
                    "name": args.dataset_name or _dataset_name(args),
                    "split": test_name,
                    **({"config": args.dataset_config} if args.dataset_config else {}),
                },
                "protocol": ("linear evaluation" if args.freeze_backbone else "fine-tuning")
                + (
                    ", 1-FCN"
                    if not args.classifier_hidden_sizes
                    else f", multi-FCN {list(args.classifier_hidden_sizes)}"
                ),
                "metrics": {
                    k[len("test_") :]: v
                    for k, v in metrics.items()
                    if k[len("test_") :] in ("accuracy", "macro_f1", "roc_auc", "quadratic_kappa")
                },
            }
        ],
        "training_data": f"Fine-tuned on the train split of {args.dataset_name or _dataset_name(args)}.",
    }
    if trainer.is_world_process_zero():
        (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=float))
        write_model_card(out_dir, results=results)
    return results


def _dataset_name(args: ClassificationArguments) -> str:
    return Path(args.dataset_dir or args.image_folder or "dataset").name + (
        f"/{args.dataset_config}" if args.dataset_config else ""
    )
