"""The ``evaluate.Metric`` classes of the local modules under ``evaluate_modules/<name>/``.

Each module file only imports its class from here, so ``evaluate.load(metric_paths()[name])`` loads
offline (never load these by Hub name) and every module computes with :mod:`.metrics`.
"""

import datasets
import evaluate

from . import metrics as _m

__all__ = ["Accuracy", "Dice", "IoU", "MacroF1", "MeanAveragePrecision", "QuadraticKappa", "RocAuc"]

_CITATION = """@inproceedings{nguyen2023lvmmed,
  title={LVM-Med: Learning Large-Scale Self-Supervised Vision Models for Medical Imaging via
         Second-order Graph Matching},
  author={Nguyen, Duy M. H. and others},
  booktitle={NeurIPS},
  year={2023}
}"""

_INT, _FLOAT = datasets.Value("int64"), datasets.Value("float64")
_INTS, _FLOATS = datasets.Sequence(_INT), datasets.Sequence(_FLOAT)
_LABELS = datasets.Features({"predictions": _INT, "references": _INT})
_LABEL_MAP = datasets.Sequence(_INTS)
_BOXES = datasets.Sequence(_FLOATS)


class _LocalMetric(evaluate.Metric):
    """A metric described by the class attributes ``_description``, ``_inputs`` and ``_features``."""

    _description: str
    _inputs: str
    _features: datasets.Features | list[datasets.Features] = _LABELS

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self._description,
            citation=_CITATION,
            inputs_description=self._inputs,
            features=self._features,
        )


class Accuracy(_LocalMetric):
    """Accuracy (:func:`.metrics.accuracy`)."""

    _description = "Fraction of predictions equal to the references."
    _inputs = """Args:
    predictions: (N,) predicted labels.
    references: (N,) reference labels.
Returns:
    {'accuracy': float}"""

    def _compute(self, predictions, references):
        return {"accuracy": _m.accuracy(predictions, references)}


class MacroF1(_LocalMetric):
    """Macro-averaged F1 (:func:`.metrics.macro_f1`)."""

    _description = (
        "Unweighted mean of per-class F1 scores (scikit-learn's f1_score(average='macro') semantics)."
    )
    _inputs = """Args:
    predictions: (N,) predicted labels.
    references: (N,) reference labels.
    labels: optional list of classes to average over (default: all seen).
Returns:
    {'macro_f1': float}"""

    def _compute(self, predictions, references, labels=None):
        return {"macro_f1": _m.macro_f1(predictions, references, labels=labels)}


class QuadraticKappa(_LocalMetric):
    """Quadratic weighted Cohen's kappa (:func:`.metrics.quadratic_weighted_kappa`)."""

    _description = "Cohen's kappa with quadratic weights, for ordinal grades (e.g. diabetic retinopathy 0-4)."
    _inputs = """Args:
    predictions: (N,) predicted grades in [0, K).
    references: (N,) reference grades.
    num_classes: K (default: max label + 1).
Returns:
    {'quadratic_kappa': float}"""

    def _compute(self, predictions, references, num_classes=None):
        return {
            "quadratic_kappa": _m.quadratic_weighted_kappa(predictions, references, num_classes=num_classes)
        }


class RocAuc(_LocalMetric):
    """ROC AUC, binary or one-vs-rest macro (:func:`.metrics.roc_auc`)."""

    _description = (
        "Area under the ROC curve (Mann-Whitney statistic, ties count one half); one-vs-rest macro\n"
        "average for several classes."
    )
    _inputs = """Args:
    prediction_scores: (N,) positive-class scores or (N, C) class scores.
    references: (N,) integer labels.
    labels: optional class of each score column.
Returns:
    {'roc_auc': float}"""
    _features = [
        datasets.Features({"prediction_scores": _FLOATS, "references": _INT}),
        datasets.Features({"prediction_scores": _FLOAT, "references": _INT}),
    ]

    def _compute(self, prediction_scores, references, labels=None):
        return {"roc_auc": _m.roc_auc(references, prediction_scores, labels=labels)}


_OVERLAP_DESCRIPTION = """{} per class over integer label maps. Empty-reference convention as MONAI's default
(ignore_empty=True): a sample whose reference lacks a class scores NaN for it and is left out of the
means. Give volume_ids and slice_indices to stack slices into 3D volumes and score per volume."""
_OVERLAP_INPUTS = """Args:
    predictions: N label maps (H, W).
    references: N label maps (H, W).
    num_classes: C.
    ignore_empty: NaN-exclude empty references (default True); False: both empty = 1.0.
    ignore_index: reference label to ignore.
    volume_ids, slice_indices: optional, (N,) each: score 3D volumes stacked from slices.
Returns:
    {{'mean_{0}': float (mean over classes, NaN left out), 'per_class_{0}': list of C floats}}"""


class _Overlap(_LocalMetric):
    """Dice or IoU per class (``_key``), over 2D slices or 3D volumes stacked from them."""

    _key: str
    _features = datasets.Features({"predictions": _LABEL_MAP, "references": _LABEL_MAP})

    def _compute(
        self,
        predictions,
        references,
        num_classes,
        ignore_empty=True,
        ignore_index=None,
        volume_ids=None,
        slice_indices=None,
    ):
        if (volume_ids is None) != (slice_indices is None):
            raise ValueError("give both volume_ids and slice_indices for 3D evaluation, or neither")
        if volume_ids is not None:
            per_class = _m.volume_dice_iou(
                predictions, references, volume_ids, slice_indices, num_classes, ignore_empty, ignore_index
            )[f"{self._key}_per_class"]
        else:
            per_class = self._per_class(predictions, references, num_classes, ignore_empty, ignore_index)
        return {
            f"mean_{self._key}": _m._nanmean(per_class),
            f"per_class_{self._key}": [float(x) for x in per_class],
        }


class Dice(_Overlap):
    """Dice per class (:func:`.metrics.dice_per_class`, :func:`.metrics.volume_dice_iou`)."""

    _key = "dice"
    _per_class = staticmethod(_m.dice_per_class)
    _description = _OVERLAP_DESCRIPTION.format("Dice")
    _inputs = _OVERLAP_INPUTS.format("dice")


class IoU(_Overlap):
    """IoU per class (:func:`.metrics.iou_per_class`, :func:`.metrics.volume_dice_iou`)."""

    _key = "iou"
    _per_class = staticmethod(_m.iou_per_class)
    _description = _OVERLAP_DESCRIPTION.format("IoU")
    _inputs = _OVERLAP_INPUTS.format("iou")


class MeanAveragePrecision(_LocalMetric):
    """PASCAL VOC mAP (:func:`.metrics.mean_average_precision`)."""

    _description = """PASCAL VOC (2010+) mean average precision with all-point interpolation;
boxes (x_min, y_min, x_max, y_max) in pixels."""
    _inputs = """Args:
    predictions: per image {'boxes': (P, 4), 'scores': (P,), 'labels': (P,)}.
    references: per image {'boxes': (R, 4), 'labels': (R,)}.
    iou_threshold: default 0.5.
Returns:
    {'map': float, 'ap_per_class': {class: AP}}"""
    _features = datasets.Features(
        {
            "predictions": {"boxes": _BOXES, "scores": _FLOATS, "labels": _INTS},
            "references": {"boxes": _BOXES, "labels": _INTS},
        }
    )

    def _compute(self, predictions, references, iou_threshold=0.5):
        ap = _m.average_precision_per_class(predictions, references, iou_threshold)
        return {"map": _m.mean_average_precision(predictions, references, iou_threshold), "ap_per_class": ap}
