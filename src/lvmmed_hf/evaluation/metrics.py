"""Evaluation metrics of the LVM-Med downstream protocols: array-likes in, floats or arrays out.

Classification metrics are scikit-learn's behind input checks that name the wrong argument. Dice/IoU
(MONAI's empty-mask rule, 3D volumes from slices) and PASCAL VOC mAP (devkit matching, all-point AP)
are written here: no installed library has these conventions (docs/downstream.md, "Metrics").
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, roc_auc_score

__all__ = [
    "accuracy",
    "macro_f1",
    "roc_auc",
    "quadratic_weighted_kappa",
    "dice_scores",
    "iou_scores",
    "dice_per_class",
    "iou_per_class",
    "assemble_volumes",
    "volume_dice_iou",
    "box_iou",
    "average_precision_per_class",
    "mean_average_precision",
    "metric_paths",
    "METRIC_NAMES",
]

METRIC_NAMES = ("accuracy", "macro_f1", "roc_auc", "quadratic_kappa", "dice", "iou", "mean_average_precision")


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # ragged lists, objects
        raise TypeError(f"{name}: expected an array-like, got {type(x).__name__} ({err})") from err


def _labels_1d(x: Any, name: str) -> np.ndarray:
    arr = _as_numpy(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of class labels, got shape {arr.shape}")
    return arr


def _same_length(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{na} and {nb} must have the same length, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[0] == 0:
        raise ValueError(f"{na} and {nb} are empty: nothing to evaluate")


def _label_pair(predictions: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, references) as checked 1-D label arrays of one non-zero length."""
    p, r = _labels_1d(predictions, "predictions"), _labels_1d(references, "references")
    _same_length(p, r, "predictions", "references")
    return p, r


# ----------------------------------------------------------------------------- classification
def accuracy(predictions: Any, references: Any) -> float:
    """Fraction of predictions equal to the reference labels. Inputs: (N,) labels."""
    p, r = _label_pair(predictions, references)
    return float(accuracy_score(r, p))


def macro_f1(predictions: Any, references: Any, labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (scikit-learn's ``f1_score(average="macro")``) over
    ``labels`` (default: every label seen); a class never predicted nor present gets F1 = 0."""
    p, r = _label_pair(predictions, references)
    labels = None if labels is None else list(labels)
    return float(f1_score(r, p, labels=labels, average="macro", zero_division=0))


def _binary_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    if is_positive.all() or not is_positive.any():
        raise ValueError(
            "roc_auc: the references hold only one class for a one-vs-rest problem; AUC is undefined "
            "(it needs at least one positive and one negative sample)"
        )
    return float(roc_auc_score(is_positive, scores))


def roc_auc(references: Any, scores: Any, labels: Sequence[int] | None = None) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``; ties count one half).
    ``references``: (N,) integer labels. ``scores``: binary, (N,) scores of label 1 or (N, 2); else
    (N, C), column c for class ``labels[c]`` (default ``range(C)``), not necessarily summing to one:
    the unweighted mean of the one-vs-rest AUCs."""
    r = _labels_1d(references, "references")
    s = _as_numpy(scores, "scores").astype(np.float64)
    _same_length(r, s, "references", "scores")
    if s.ndim == 2 and s.shape[1] == 2 and labels is None:
        s = s[:, 1]
    if s.ndim == 1:
        if not set(np.unique(r).tolist()) <= {0, 1}:
            raise ValueError(
                "roc_auc: 1-D scores need binary references in {0, 1}, got labels "
                f"{np.unique(r).tolist()}; pass (N, C) scores for several classes"
            )
        return _binary_auc(r == 1, s)
    if s.ndim != 2:
        raise ValueError(f"scores: expected shape (N,) or (N, C), got {s.shape}")
    classes = list(range(s.shape[1])) if labels is None else list(labels)
    if len(classes) != s.shape[1]:
        raise ValueError(f"labels has {len(classes)} entries but scores has {s.shape[1]} columns")
    unknown = set(np.unique(r).tolist()) - set(classes)
    if unknown:
        raise ValueError(f"references hold labels {sorted(unknown)} that have no score column")
    # One-vs-rest per column, unnormalised scores allowed (scikit-learn's multi-class mode would
    # require probabilities summing to one).
    return float(np.mean([_binary_auc(r == c, s[:, k]) for k, c in enumerate(classes)]))


def quadratic_weighted_kappa(predictions: Any, references: Any, num_classes: int | None = None) -> float:
    """Cohen's kappa with quadratic weights (scikit-learn's ``cohen_kappa_score``) of integer grades in
    [0, ``num_classes``) (default: the largest label + 1). 1.0 when both raters give every sample one
    and the same grade (the formula's 0/0)."""
    p, r = (x.astype(np.int64) for x in _label_pair(predictions, references))
    lo = min(p.min(), r.min())
    if lo < 0:
        raise ValueError(f"quadratic_weighted_kappa: labels must be non-negative integer grades, got {lo}")
    k = int(num_classes) if num_classes is not None else int(max(p.max(), r.max())) + 1
    if max(p.max(), r.max()) >= k:
        raise ValueError(f"quadratic_weighted_kappa: a label >= num_classes={k}")
    if np.unique(np.concatenate([p, r])).size == 1:
        return 1.0
    return float(cohen_kappa_score(r, p, labels=list(range(k)), weights="quadratic"))


# ----------------------------------------------------------------------------- segmentation
def _label_maps(predictions: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
    p, r = _as_numpy(predictions, "predictions"), _as_numpy(references, "references")
    if p.shape != r.shape:
        raise ValueError(f"predictions and references must have the same shape, got {p.shape} and {r.shape}")
    if p.ndim < 2:
        raise ValueError(f"expected label maps of shape (H, W), (N, H, W) or (N, D, H, W), got {p.shape}")
    if p.ndim == 2:
        p, r = p[None], r[None]
    if not all(np.issubdtype(a.dtype, np.integer) or a.dtype == bool for a in (p, r)):
        raise TypeError(
            f"expected integer label maps (class index per pixel), got {p.dtype} and {r.dtype}; "
            "take the argmax of logits first"
        )
    return p.astype(np.int64), r.astype(np.int64)


def _scores(
    predictions: Any,
    references: Any,
    num_classes: int,
    ignore_empty: bool,
    ignore_index: int | None,
    kind: str,
) -> np.ndarray:
    p, r = _label_maps(predictions, references)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    for arr, name in ((p, "predictions"), (r, "references")):
        vals = arr if ignore_index is None else arr[arr != ignore_index]
        if vals.size and (vals.min() < 0 or vals.max() >= num_classes):
            raise ValueError(
                f"{name} hold labels outside [0, {num_classes}): min {vals.min()}, max {vals.max()}"
            )
    if ignore_index is not None:
        # Ignored pixels count for neither prediction nor reference.
        keep = r != ignore_index
        p = np.where(keep, p, -1)
        r = np.where(keep, r, -1)
    # per sample and class: |P & R|, |P|, |R|, (N, C)
    pf, rf = p.reshape(p.shape[0], -1), r.reshape(r.shape[0], -1)
    counts = []
    for c in range(num_classes):
        pc, rc = pf == c, rf == c
        counts.append((np.sum(pc & rc, axis=1), pc.sum(1), rc.sum(1)))
    inter, psum, rsum = (np.stack(per_class, 1).astype(np.float64) for per_class in zip(*counts))
    denom = psum + rsum if kind == "dice" else psum + rsum - inter
    num = 2.0 * inter if kind == "dice" else inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / denom
    return np.where(rsum > 0, out, np.nan) if ignore_empty else np.where(denom > 0, out, 1.0)


def dice_scores(
    predictions: Any,
    references: Any,
    num_classes: int,
    ignore_empty: bool = True,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Dice 2|P&R| / (|P| + |R|) per sample and class: (N, C) floats.
    ``predictions``, ``references``: integer label maps (H, W), (N, H, W) or (N, D, H, W), labels in
    [0, ``num_classes``) (background 0 is scored too). ``ignore_empty`` (MONAI's default): NaN where a
    sample's reference lacks the class; else both empty = 1, empty reference with a prediction = 0.
    ``ignore_index``: a reference label whose pixels are left out (e.g. 255)."""
    return _scores(predictions, references, num_classes, ignore_empty, ignore_index, "dice")


def iou_scores(
    predictions: Any,
    references: Any,
    num_classes: int,
    ignore_empty: bool = True,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Intersection over union |P&R| / |P|R| per sample and class; same arguments as :func:`dice_scores`."""
    return _scores(predictions, references, num_classes, ignore_empty, ignore_index, "iou")


def _nanmean(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean with NaN left out; NaN (without a warning) where every value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice"
        out = np.nanmean(np.asarray(x, dtype=np.float64), axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def dice_per_class(
    predictions: Any,
    references: Any,
    num_classes: int,
    ignore_empty: bool = True,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Mean over samples of :func:`dice_scores` without NaN: (C,), NaN where no sample has the class."""
    return _nanmean(dice_scores(predictions, references, num_classes, ignore_empty, ignore_index), axis=0)


def iou_per_class(
    predictions: Any,
    references: Any,
    num_classes: int,
    ignore_empty: bool = True,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Mean over samples of :func:`iou_scores`, NaN samples left out. Returns (C,)."""
    return _nanmean(iou_scores(predictions, references, num_classes, ignore_empty, ignore_index), axis=0)


def assemble_volumes(
    predictions: Sequence[Any],
    references: Sequence[Any],
    volume_ids: Sequence[Any],
    slice_indices: Sequence[int],
) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """Stack N (H, W) slice label maps into ``{volume_id: (pred (D, H, W), ref (D, H, W))}``, slices
    ordered by index; a repeated (volume, slice) pair or mixed slice shapes raise ``ValueError``."""
    n = len(predictions)
    if not (len(references) == len(volume_ids) == len(slice_indices) == n):
        raise ValueError(
            "predictions, references, volume_ids and slice_indices must have the same length, got "
            f"{n}, {len(references)}, {len(volume_ids)}, {len(slice_indices)}"
        )
    groups: dict[Any, list[tuple[int, int]]] = {}
    for i, (vid, sidx) in enumerate(zip(volume_ids, slice_indices)):
        groups.setdefault(vid, []).append((int(sidx), i))
    volumes = {}
    for vid, items in groups.items():
        items.sort()
        idx = [s for s, _ in items]
        if len(set(idx)) != len(idx):
            raise ValueError(f"volume {vid!r} has a repeated slice index in {idx}")
        try:
            pv = np.stack([_as_numpy(predictions[i], "predictions") for _, i in items])
            rv = np.stack([_as_numpy(references[i], "references") for _, i in items])
        except ValueError as err:
            raise ValueError(f"volume {vid!r}: its slices do not share one shape ({err})") from err
        volumes[vid] = (pv, rv)
    return volumes


def volume_dice_iou(
    predictions: Sequence[Any],
    references: Sequence[Any],
    volume_ids: Sequence[Any],
    slice_indices: Sequence[int],
    num_classes: int,
    ignore_empty: bool = True,
    ignore_index: int | None = None,
) -> dict[str, Any]:
    """3D Dice and IoU per volume of stacked slices: ``{"volume_ids", "dice": (V, C), "iou": (V, C),
    "dice_per_class": (C,), "iou_per_class": (C,)}`` (per class: NaN-free means over volumes)."""
    vols = assemble_volumes(predictions, references, volume_ids, slice_indices)
    args = (num_classes, ignore_empty, ignore_index)
    dice = np.stack([dice_scores(pv[None], rv[None], *args)[0] for pv, rv in vols.values()])
    iou = np.stack([iou_scores(pv[None], rv[None], *args)[0] for pv, rv in vols.values()])
    return {
        "volume_ids": list(vols),
        "dice": dice,
        "iou": iou,
        "dice_per_class": _nanmean(dice, axis=0),
        "iou_per_class": _nanmean(iou, axis=0),
    }


# ----------------------------------------------------------------------------- detection
def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """Pairwise IoU of (A, 4) and (B, 4) boxes ``(x_min, y_min, x_max, y_max)``. Returns (A, B)."""
    a = _as_numpy(boxes_a, "boxes").astype(np.float64).reshape(-1, 4)
    b = _as_numpy(boxes_b, "boxes").astype(np.float64).reshape(-1, 4)
    for arr in (a, b):
        if np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1]):
            raise ValueError(
                "boxes must be (x_min, y_min, x_max, y_max) with x_max >= x_min and y_max >= y_min"
            )
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _all_point_ap(tp: np.ndarray, n_ref: int) -> float:
    """VOC 2010+ AP from the TP flags of score-sorted detections."""
    if tp.size == 0:
        return 0.0
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    recall = ctp / n_ref
    precision = ctp / (ctp + cfp)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _detections(
    items: Sequence[Mapping[str, Any]], name: str, with_scores: bool
) -> list[dict[str, np.ndarray]]:
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, Mapping) or "boxes" not in item or "labels" not in item:
            raise ValueError(
                f"{name}[{k}]: expected a mapping with 'boxes' and 'labels'"
                + (" and 'scores'" if with_scores else "")
            )
        boxes = _as_numpy(item["boxes"], f"{name}[{k}]['boxes']").astype(np.float64).reshape(-1, 4)
        labels = _as_numpy(item["labels"], f"{name}[{k}]['labels']").reshape(-1)
        if labels.shape[0] != boxes.shape[0]:
            raise ValueError(f"{name}[{k}]: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
        entry = {"boxes": boxes, "labels": labels}
        if with_scores:
            if "scores" not in item:
                raise ValueError(f"{name}[{k}]: predictions need 'scores'")
            scores = _as_numpy(item["scores"], f"{name}[{k}]['scores']").astype(np.float64).reshape(-1)
            if scores.shape[0] != boxes.shape[0]:
                raise ValueError(f"{name}[{k}]: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
            entry["scores"] = scores
        out.append(entry)
    return out


def average_precision_per_class(
    predictions: Sequence[Mapping[str, Any]],
    references: Sequence[Mapping[str, Any]],
    iou_threshold: float = 0.5,
) -> dict[int, float]:
    """VOC all-point AP, ``{class: AP}`` for every class with a reference box.
    ``predictions``: per image ``boxes`` (P, 4), ``scores`` (P,), ``labels`` (P,); ``references``: per
    image ``boxes`` (R, 4), ``labels`` (R,); boxes ``(x_min, y_min, x_max, y_max)``, continuous pixels.
    Detections of all images by score, each matched to the reference box of highest IoU in its image:
    a true positive if that IoU is strictly above the threshold and the box is still unmatched."""
    if len(predictions) != len(references):
        raise ValueError(
            f"predictions ({len(predictions)} images) and references ({len(references)}) differ in length"
        )
    preds = _detections(predictions, "predictions", with_scores=True)
    refs = _detections(references, "references", with_scores=False)
    classes = sorted({int(c) for r in refs for c in r["labels"].tolist()})
    result = {}
    for c in classes:
        n_ref = sum(int(np.sum(r["labels"] == c)) for r in refs)
        dets = []  # (score, image index, box)
        for i, p in enumerate(preds):
            for box, score in zip(p["boxes"][p["labels"] == c], p["scores"][p["labels"] == c]):
                dets.append((score, i, box))
        # Stable sort: equal scores keep image order, so results do not depend on the sort's luck.
        dets.sort(key=lambda d: -d[0])
        matched = [np.zeros(int(np.sum(r["labels"] == c)), dtype=bool) for r in refs]
        tp = np.zeros(len(dets))
        for d, (_, i, box) in enumerate(dets):
            ref_boxes = refs[i]["boxes"][refs[i]["labels"] == c]
            if ref_boxes.shape[0] == 0:
                continue
            ious = box_iou(box[None], ref_boxes)[0]
            j = int(np.argmax(ious))
            # Strictly greater, as the VOC devkit (``ovmax > ovthresh``): IoU exactly at the
            # threshold is a false positive.
            if ious[j] > iou_threshold and not matched[i][j]:
                tp[d] = 1.0
                matched[i][j] = True
        result[c] = _all_point_ap(tp, n_ref)
    return result


def mean_average_precision(
    predictions: Sequence[Mapping[str, Any]],
    references: Sequence[Mapping[str, Any]],
    iou_threshold: float = 0.5,
) -> float:
    """Mean over classes with reference boxes of :func:`average_precision_per_class` (NaN: none)."""
    ap = average_precision_per_class(predictions, references, iou_threshold)
    return float(np.mean(list(ap.values()))) if ap else math.nan


# ----------------------------------------------------------------------------- evaluate modules
def metric_paths() -> dict[str, str]:
    """Local folders of the package's ``evaluate`` modules, ``{name: path}``: ``evaluate.load(path)``
    loads offline (never load these by Hub name)."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "evaluate_modules")
    return {name: os.path.join(root, name) for name in METRIC_NAMES}
