"""Image classification with an LVM-Med backbone: linear evaluation or fine-tuning, 1-FCN or multi-FCN.
The paper's protocols (Sec. 4, Tables 2-3): "linear evaluation" trains only the head on frozen
features (``freeze_backbone=True``, BatchNorm statistics fixed); "fine-tuning" trains all weights.
The head is one linear layer (``classifier_hidden_sizes=[]``) or an MLP (e.g. ``[512, 256]``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax
from transformers import AutoModelForImageClassification, TrainingArguments, set_seed
from transformers.hf_argparser import HfArg

from ..evaluation import metrics as M
from .backbones import backbone_config, image_processor_for, is_checkpoint_dir
from .data import ensure_splits, load_image_dataset, pixel_values, recipe_results, save_run, train

logger = logging.getLogger(__name__)


@dataclass
class ClassificationArguments:
    """What to train on and how (the Trainer's own options come from ``TrainingArguments``)."""

    backbone: str = HfArg(
        default="resnet50",
        help="checkpoint folder, or a randomly initialised preset (tiny-cnn, resnet50, tiny-vit, vit-b)",
    )
    dataset_dir: str | None = HfArg(default=None, help="prepared dataset folder (load_dataset(dir, config))")
    dataset_config: str | None = HfArg(default=None, help="config name inside dataset_dir")
    image_folder: str | None = HfArg(default=None, help="<class>/<image> or <split>/<class>/<image> folder")
    image_column: str = "image"
    label_column: str = "label"
    group_column: str | None = HfArg(default=None, help="groups kept whole in splits (e.g. patient id)")
    validation_fraction: float = HfArg(default=0.2, help="held out from train if no validation split")
    test_split: str | None = HfArg(default="test", help="split evaluated at the end (else validation)")
    image_size: int = HfArg(default=224, help="input side in pixels")
    freeze_backbone: bool = HfArg(default=False, help="linear evaluation: train the head only")
    classifier_hidden_sizes: list[int] = HfArg(default_factory=list, help="[]: 1-FCN; 512 256: multi-FCN")
    classifier_dropout: float = 0.0
    ordinal: bool = HfArg(default=False, help="ordered grades: also report quadratic weighted kappa")
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    dataset_name: str | None = HfArg(default=None, help="name shown in results.json and the model card")


_REPORTED = ("accuracy", "macro_f1", "roc_auc", "quadratic_kappa")


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
    probs = softmax(logits, axis=-1)
    try:
        out["roc_auc"] = M.roc_auc(labels, probs[:, 1] if num_labels == 2 else probs)
    except ValueError:
        out["roc_auc"] = math.nan  # a class absent from this split: AUC undefined
    if ordinal:
        out["quadratic_kappa"] = M.quadratic_weighted_kappa(preds, labels, num_classes=num_labels)
    return out


def build_classifier(args: ClassificationArguments, id2label: dict[int, str]):
    """An ``...ForImageClassification`` from a checkpoint folder (backbone weights kept) or a preset."""
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


def run_classification(args: ClassificationArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Train, evaluate on the test (or validation) split, save the run (:func:`.data.save_run`)."""
    ds = load_image_dataset(args.dataset_dir, args.dataset_config, args.image_folder)
    ds = ensure_splits(ds, args.validation_fraction, args.group_column, seed=training_args.seed)
    names = getattr(ds["train"].features[args.label_column], "names", None)
    if names is None:
        values = sorted(set(ds["train"][args.label_column]))
        names = [str(v) for v in values]
        mapping = {v: i for i, v in enumerate(values)}
        ds = ds.map(lambda ex: {args.label_column: mapping[ex[args.label_column]]})
    id2label = dict(enumerate(names))
    processor = image_processor_for(args.backbone, args.image_size)

    def transform(batch):
        return {
            "pixel_values": pixel_values(processor, batch[args.image_column]),
            "labels": batch[args.label_column],
        }

    def cap(split, n):
        return split.select(range(min(n, len(split)))) if n else split

    test_name = args.test_split if args.test_split in ds else "validation"
    val = cap(ds["validation"], args.max_eval_samples).with_transform(transform)
    test = cap(ds[test_name], args.max_eval_samples).with_transform(transform)
    set_seed(training_args.seed)  # the new head's initialisation: same seed, same run
    model = build_classifier(args, id2label)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "classifier: %d trainable of %d parameters", trainable, sum(p.numel() for p in model.parameters())
    )

    def compute_metrics(eval_pred):
        return classification_metrics(eval_pred.predictions, eval_pred.label_ids, len(id2label), args.ordinal)

    train_set = cap(ds["train"], args.max_train_samples).with_transform(transform)
    trainer = train(model, training_args, train_set, eval_dataset=val, compute_metrics=compute_metrics)
    metrics = trainer.evaluate(test, metric_key_prefix="test")
    config = f"/{args.dataset_config}" if args.dataset_config else ""
    name = args.dataset_name or Path(args.dataset_dir or args.image_folder or "dataset").name + config
    head = f"multi-FCN {list(args.classifier_hidden_sizes)}" if args.classifier_hidden_sizes else "1-FCN"
    results = recipe_results(
        "image-classification",
        {
            "name": name,
            "split": test_name,
            **({"config": args.dataset_config} if args.dataset_config else {}),
        },
        ("linear evaluation" if args.freeze_backbone else "fine-tuning") + f", {head}",
        {k.removeprefix("test_"): v for k, v in metrics.items() if k.removeprefix("test_") in _REPORTED},
        training_data=f"Fine-tuned on the train split of {name}.",
    )
    return save_run(trainer, processor, results, strict_json=False)
