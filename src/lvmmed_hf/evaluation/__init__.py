"""Evaluation for the LVM-Med downstream protocols: metrics (plain functions and local ``evaluate``
modules) and model cards."""

from .metrics import (
    METRIC_NAMES,
    accuracy,
    assemble_volumes,
    average_precision_per_class,
    box_iou,
    dice_per_class,
    dice_scores,
    iou_per_class,
    iou_scores,
    macro_f1,
    mean_average_precision,
    metric_paths,
    quadratic_weighted_kappa,
    roc_auc,
    volume_dice_iou,
)

__all__ = [
    "METRIC_NAMES",
    "accuracy",
    "assemble_volumes",
    "average_precision_per_class",
    "box_iou",
    "dice_per_class",
    "dice_scores",
    "iou_per_class",
    "iou_scores",
    "macro_f1",
    "mean_average_precision",
    "metric_paths",
    "quadratic_weighted_kappa",
    "roc_auc",
    "volume_dice_iou",
]
