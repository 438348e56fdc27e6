"""Linear probing: frozen backbone features + a multinomial logistic regression, with grouped splits.

Used by ``lvmmed demo`` to compare a pretrained backbone with a randomly initialised one. The
probe is deterministic (full-batch L-BFGS on standardised features, L2 penalty), so two backbones
are compared on exactly the same splits with exactly the same classifier.

Splits are grouped: every image of one group (patient / study / source file) is on the same side,
so slices of one volume never straddle train and test. They are also stratified: each class's
groups are divided between the sides, and a class with fewer than two groups cannot be tested
(it is dropped, and reported).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..evaluation import metrics as M

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def images_to_pixel_values(images: Sequence[Any], size: int) -> torch.Tensor:
    """Images (PIL of any mode incl. 16-bit, arrays) -> (B, 3, size, size), as the pretraining views
    see them without augmentation: intensities to [0, 1] (16-bit and float min-max per image),
    whole image resized (antialiased), ImageNet normalisation."""
    from lvmmed_hf.training.collator import image_to_tensor

    out = []
    for image in images:
        x = image_to_tensor(image)
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
) -> np.ndarray:
    """Pooled features (N, C) of a base model (``pooler_output``) in eval mode."""
    model.eval()
    feats = []
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, unit="batch"):
        rows = dataset[start : start + batch_size][image_column]
        out = model(pixel_values=images_to_pixel_values(rows, size))
        feats.append(out.pooler_output.float().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, 0), dtype=np.float32)


def grouped_stratified_split(
    labels: Sequence[int], groups: Sequence[Any], test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Indices (train, test) and the classes kept (those with >= 2 groups).

    Per class, about ``test_fraction`` of its groups (at least one, at most all but one) go to test.
    A group that holds several classes is assigned by its majority class.
    """
    labels = np.asarray(labels)
    groups = np.asarray([str(g) for g in groups])
    rng = np.random.default_rng(seed)
    group_class: dict[str, int] = {}
    for g in np.unique(groups):
        vals, counts = np.unique(labels[groups == g], return_counts=True)
        group_class[g] = int(vals[np.argmax(counts)])
    test_groups: set[str] = set()
    kept = []
    for c in sorted(set(group_class.values())):
        gs = sorted(g for g, k in group_class.items() if k == c)
        if len(gs) < 2:
            continue
        kept.append(c)
        n_test = min(max(1, int(round(test_fraction * len(gs)))), len(gs) - 1)
        test_groups.update(rng.permutation(gs)[:n_test].tolist())
    usable = np.isin(labels, kept) & np.array([group_class[g] in kept for g in groups])
    is_test = np.array([g in test_groups for g in groups])
    return np.nonzero(usable & ~is_test)[0], np.nonzero(usable & is_test)[0], kept


def fit_linear_probe(
    x: np.ndarray, y: np.ndarray, num_classes: int, weight_decay: float = 1e-3, max_iter: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression (weights (C, D), bias (C,)) by full-batch L-BFGS.

    Loss: mean cross-entropy + ``weight_decay`` * ||W||^2. Features are expected standardised.
    Class weights balance the classes (inverse frequency), so a majority class cannot carry the probe.
    """
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.long)
    counts = torch.bincount(yt, minlength=num_classes).double()
    class_w = torch.where(
        counts > 0, counts.sum() / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts)
    )
    w = torch.zeros(num_classes, xt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xt @ w.T + b, yt, weight=class_w) + weight_decay * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def linear_probe_scores(
    features: np.ndarray,
    labels: Sequence[int],
    groups: Sequence[Any],
    n_repeats: int = 5,
    test_fraction: float = 0.3,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy and macro-F1 of the probe over ``n_repeats`` grouped stratified splits.

    Returns means, standard deviations, per-repeat values and the classes that could be tested.
    """
    labels = np.asarray(labels)
    accs, f1s, kept_all = [], [], None
    for r in range(n_repeats):
        tr, te, kept = grouped_stratified_split(labels, groups, test_fraction, seed + r)
        if len(kept) < 2 or len(te) == 0:
            raise ValueError(
                f"linear probe needs at least two classes with two or more groups, got classes {kept}"
            )
        kept_all = kept
        remap = {c: i for i, c in enumerate(kept)}
        ytr = np.array([remap[c] for c in labels[tr]])
        yte = np.array([remap[c] for c in labels[te]])
        mu, sd = features[tr].mean(0), features[tr].std(0) + 1e-6
        xtr, xte = (features[tr] - mu) / sd, (features[te] - mu) / sd
        w, b = fit_linear_probe(xtr, ytr, len(kept), weight_decay)
        pred = (torch.as_tensor(xte, dtype=torch.float64) @ w.T + b).argmax(1).numpy()
        accs.append(M.accuracy(pred, yte))
        f1s.append(M.macro_f1(pred, yte, labels=list(range(len(kept)))))
    return {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "macro_f1": float(np.mean(f1s)),
        "macro_f1_std": float(np.std(f1s)),
        "accuracy_per_split": accs,
        "macro_f1_per_split": f1s,
        "classes": kept_all,
        "n_repeats": n_repeats,
    }


def leave_one_group_out_scores(
    features: np.ndarray, labels: Sequence[int], groups: Sequence[Any], weight_decay: float = 1e-3
) -> dict[str, Any]:
    """Leave-one-group-out probe: each group is predicted by a probe trained on all other groups.

    Only classes with at least two groups are used (a class seen in a single group can never be
    both trained and tested). Returns accuracy and macro-F1 over every held-out prediction, the
    per-group accuracies (``group_accuracy``, in the order of ``group_ids``), the predictions and
    the classes used. Deterministic: no random split.
    """
    labels = np.asarray(labels)
    groups = np.asarray([str(g) for g in groups])
    _, _, kept = grouped_stratified_split(labels, groups, 0.5, 0)
    if len(kept) < 2:
        raise ValueError(f"leave-one-group-out probe needs two classes with two or more groups, got {kept}")
    use = np.isin(labels, kept)
    remap = {c: i for i, c in enumerate(kept)}
    y = np.array([remap.get(c, -1) for c in labels])
    preds = np.full(len(labels), -1)
    group_ids = sorted(set(groups[use].tolist()))
    group_acc = []
    for g in tqdm(group_ids, desc="probe folds", unit="fold", leave=False):
        te = use & (groups == g)
        tr = use & (groups != g)
        mu, sd = features[tr].mean(0), features[tr].std(0) + 1e-6
        w, b = fit_linear_probe((features[tr] - mu) / sd, y[tr], len(kept), weight_decay)
        p = (torch.as_tensor((features[te] - mu) / sd, dtype=torch.float64) @ w.T + b).argmax(1).numpy()
        preds[te] = p
        group_acc.append(float(np.mean(p == y[te])))
    return {
        "accuracy": M.accuracy(preds[use], y[use]),
        "macro_f1": M.macro_f1(preds[use], y[use], labels=list(range(len(kept)))),
        # Each study counts once, however many slices it has.
        "study_accuracy": float(np.mean(group_acc)),
        "group_ids": group_ids,
        "group_accuracy": group_acc,
        "predictions": preds[use].tolist(),
        "references": y[use].tolist(),
        "classes": kept,
    }
