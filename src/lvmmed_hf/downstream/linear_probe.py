"""Linear probing (``lvmmed demo``): frozen backbone features, scikit-learn's ``StandardScaler`` +
class-balanced ``LogisticRegression``, the L2 strength chosen by a nested grouped cross-validation.
Splits are grouped: every image of one group (patient / study / source file) is on the same side,
so slices of one volume never straddle train and test. A class with fewer than two groups cannot
be tested (it is dropped, and reported). Deterministic: every backbone gets the same splits.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..evaluation import metrics as M
from ..intensity import load_unit_image

logger = logging.getLogger(__name__)


def images_to_pixel_values(images: Sequence[Any], size: int) -> torch.Tensor:
    """Images (PIL of any mode incl. 16-bit, arrays) -> (B, 3, size, size) as the image processor
    makes them: [0, 1] by :mod:`lvmmed_hf.intensity`, antialiased resize, ImageNet normalisation."""
    out = []
    for image in images:
        x = load_unit_image(image)
        x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
        out.append(
            F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
        )
    x = torch.stack(out)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def extract_features(
    model: torch.nn.Module,
    dataset,
    image_column: str = "image",
    size: int = 128,
    batch_size: int = 32,
    desc: str = "features",
    pooling: str = "last",
) -> np.ndarray:
    """Globally average-pooled features ``(N, D)`` of a base model: ``pooling="last"``, the last
    stage; ``"stages"``, the stem and every stage concatenated (early stages keep intensity and
    texture statistics that the last stage may have learnt to ignore)."""
    if pooling not in ("last", "stages"):
        raise ValueError(f"pooling must be 'last' or 'stages', got {pooling!r}")
    model.eval()
    feats = []
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, unit="batch"):
        rows = dataset[start : start + batch_size][image_column]
        out = model(pixel_values=images_to_pixel_values(rows, size), output_hidden_states=pooling == "stages")
        if pooling == "last":
            f = out.pooler_output
        else:
            maps = [h for h in out.hidden_states if h.dim() == 4]
            f = torch.cat([h.float().mean((2, 3)) for h in maps], dim=1)
        feats.append(f.float().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, 0), dtype=np.float32)


# Inverse L2 strengths (scikit-learn's C) tried per outer fold; with ~100 standardised 256-d
# features, useful values are strong penalties (C <= 1e-2).
DEFAULT_C_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def _group_owners(labels: np.ndarray, groups: np.ndarray) -> dict[str, int]:
    """The majority class of each group, in sorted group order."""
    return {g: int(np.bincount(labels[groups == g]).argmax()) for g in sorted(set(groups.tolist()))}


def classes_with_two_groups(labels: Sequence[int], groups: Sequence[Any]) -> list[int]:
    """Classes that own at least two groups (a group counts for its majority class): a class seen
    in a single group can never be both trained and tested in a grouped split."""
    owners = _group_owners(np.asarray(labels), np.asarray([str(g) for g in groups]))
    return sorted(c for c, n in Counter(owners.values()).items() if n >= 2)


def grouped_folds(y: np.ndarray, groups: np.ndarray, n_folds: int) -> PredefinedSplit | None:
    """Grouped, stratified, deterministic folds (None when nothing can be held out): the groups of
    each class owning two or more are dealt round-robin, sorted, into at most ``n_folds`` folds; the
    other groups always train (fold -1). No fold holds out all groups of a class."""
    owners = _group_owners(y, groups)
    fold_of: dict[str, int] = {}
    for c in sorted(set(owners.values())):
        members = [g for g, owner in owners.items() if owner == c]
        if len(members) >= 2:
            fold_of.update({g: j % n_folds for j, g in enumerate(members)})
    if not fold_of:
        return None
    return PredefinedSplit(np.array([fold_of.get(g, -1) for g in groups.tolist()]))


def _neg_log_loss(estimator, x: np.ndarray, y: np.ndarray) -> float:
    # The held-out inner fold may lack some classes: score against every class the probe knows.
    return -log_loss(y, estimator.predict_proba(x), labels=estimator.classes_)


def make_probe(c: float = 1.0) -> Pipeline:
    """Standardise, then a class-balanced multinomial logistic regression (``c``: inverse L2 strength)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000))


def grouped_cv_probe_scores(
    features: np.ndarray,
    labels: Sequence[int],
    groups: Sequence[Any],
    c_grid: float | Sequence[float] = DEFAULT_C_GRID,
    n_folds: int = 5,
    n_inner_folds: int = 3,
    progress: bool = True,
) -> dict[str, Any]:
    """Grouped cross-validated probe: each group is predicted by a probe trained on other groups only
    (outer folds: :func:`grouped_folds`, classes with two or more groups). ``c_grid``: one inverse L2
    strength, or a grid from which each outer fold picks its value by a grouped ``n_inner_folds``
    cross-validation on its own training groups (lowest held-out cross-entropy; ties: smaller C)."""
    labels = np.asarray(labels)
    groups = np.asarray([str(g) for g in groups])
    kept = classes_with_two_groups(labels, groups)
    if len(kept) < 2:
        raise ValueError(f"a grouped probe needs two classes with two or more groups, got {kept}")
    grid = sorted([float(c_grid)] if np.isscalar(c_grid) else [float(c) for c in c_grid])
    if not grid or grid[0] <= 0:
        raise ValueError(f"c_grid must be > 0 or a non-empty grid of such values, got {c_grid!r}")
    use = np.isin(labels, kept)
    x, y, g = features[use], np.searchsorted(kept, labels[use]), groups[use]
    preds = np.full(len(y), -1)
    chosen: list[float] = []
    outer = list(grouped_folds(y, g, n_folds).split(x, y))
    # One BLAS thread: tiny problems, no slowdown on a busy machine, the same result on any machine.
    with threadpool_limits(limits=1):
        for tr, te in tqdm(outer, desc="probe folds", unit="fold", leave=False, disable=not progress):
            cv = grouped_folds(y[tr], g[tr], n_inner_folds) if len(grid) > 1 else None
            if cv is None:
                probe = make_probe(grid[0]).fit(x[tr], y[tr])
                chosen.append(grid[0])
            else:
                # Ascending C: GridSearchCV keeps the first of tied scores, the strongest penalty.
                param = {"logisticregression__C": grid}
                search = GridSearchCV(make_probe(), param, scoring=_neg_log_loss, cv=cv).fit(x[tr], y[tr])
                probe = search.best_estimator_
                chosen.append(float(search.best_params_["logisticregression__C"]))
            preds[te] = probe.predict(x[te])
    group_ids = sorted(set(g.tolist()))
    group_acc = [float(np.mean(preds[g == gid] == y[g == gid])) for gid in group_ids]
    return {
        "accuracy": M.accuracy(preds, y),
        "macro_f1": M.macro_f1(preds, y, labels=list(range(len(kept)))),
        # Each study counts once, however many slices it has.
        "study_accuracy": float(np.mean(group_acc)),
        "group_ids": group_ids,
        "group_accuracy": group_acc,
        "c_per_fold": chosen,
        "predictions": preds.tolist(),
        "references": y.tolist(),
        "classes": kept,
    }
