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
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..evaluation import metrics as M
from ..intensity import load_unit_image

logger = logging.getLogger(__name__)


def images_to_pixel_values(images: Sequence[Any], size: int) -> torch.Tensor:
    """Images (PIL of any mode incl. 16-bit, arrays) -> (B, 3, size, size), as the pretraining views
    see them without augmentation and as the saved image processor does: intensities to [0, 1] by
    the package's convention (:mod:`lvmmed_hf.intensity`: uint8 / 255, uint16 / 65535), whole
    image resized (antialiased), ImageNet normalisation."""
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
    """Globally average-pooled features of a base model in eval mode, ``(N, D)``.

    ``pooling="last"``: the last stage only (``pooler_output``, D = C). ``pooling="stages"``: the
    average pool of the stem and of every stage's map, concatenated (D = sum of the widths; for a
    CNN the usual multi-scale linear-probe features: early stages keep the intensity and texture
    statistics that the last stage may have learnt to ignore).
    """
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


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return [(a - mu) / sd for a in (train, *others)]


def _fit_predict_logits(
    xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, num_classes: int, weight_decay: float
) -> torch.Tensor:
    xtr, xte = _standardise(xtr, xte)
    w, b = fit_linear_probe(xtr, ytr, num_classes, weight_decay)
    return torch.as_tensor(xte, dtype=torch.float64) @ w.T + b


def fit_linear_probes_batched(
    x: torch.Tensor,
    y: torch.Tensor,
    sample_weight: torch.Tensor,
    num_classes: int,
    weight_decay: torch.Tensor,
    max_iter: int = 300,
) -> tuple[torch.Tensor, torch.Tensor]:
    """P independent probes of :func:`fit_linear_probe` in one L-BFGS run (their losses are summed,
    so each minimum is its own problem's): ``x (P, N, D)``, ``y (N,)``, ``sample_weight (P, N)``
    (0 leaves a sample out of a problem), ``weight_decay (P,)``. Returns ``W (P, C, D)``, ``b (P, C)``.

    Per problem the loss is the class-balanced mean cross-entropy of its samples + wd ||W||^2.
    """
    p, n, d = x.shape
    onehot = F.one_hot(y, num_classes).to(x.dtype)  # (N, C)
    counts = sample_weight @ onehot  # (P, C)
    class_w = torch.where(counts > 0, counts.sum(1, keepdim=True) / (num_classes * counts.clamp(min=1)), 0.0)
    w_i = sample_weight * (class_w @ onehot.T)  # (P, N): per-sample weight, as F.cross_entropy(weight=)
    norm = w_i.sum(1).clamp(min=1e-12)
    w = torch.zeros(p, num_classes, d, dtype=x.dtype, requires_grad=True)
    b = torch.zeros(p, num_classes, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = torch.einsum("pnd,pcd->pnc", x, w) + b[:, None, :]
        ce = -(logits.log_softmax(-1) * onehot).sum(-1)  # (P, N)
        loss = ((w_i * ce).sum(1) / norm + weight_decay * (w**2).sum((1, 2))).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def select_weight_decay(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    num_classes: int,
    grid: Sequence[float],
    inner_folds: int = 4,
) -> tuple[float, list[float]]:
    """The L2 strength of ``grid`` with the lowest grouped cross-validated cross-entropy on these data.

    Meant to run on the training side of an outer fold only (nested cross-validation). Only groups
    of classes that keep at least one other group in the inner training side are held out (a class
    absent from the inner training side cannot be predicted, whatever the penalty). The score is
    the mean held-out cross-entropy over the inner folds; ties go to the stronger
    penalty. All inner probes (folds x grid) are fitted in one batched L-BFGS run. Returns the
    choice and the score of every grid value.
    """
    ids = sorted(set(groups.tolist()))
    group_class = {g: int(np.bincount(y[groups == g]).argmax()) for g in ids}
    per_class = np.bincount(list(group_class.values()), minlength=num_classes)
    held = [g for g in ids if per_class[group_class[g]] >= 2]
    if not held:
        return float(max(grid)), [math.nan] * len(grid)
    # Inner folds: the held-out-able groups of each class dealt round-robin into at most
    # ``inner_folds`` folds (stratified, deterministic); each fold is held out once.
    fold_of: dict[str, int] = {}
    for c in range(num_classes):
        for j, g in enumerate(g for g in held if group_class[g] == c):
            fold_of[g] = j % inner_folds
    xs, masks, wds, tests = [], [], [], []
    for f in sorted(set(fold_of.values())):
        te = np.isin(groups, [g for g, k in fold_of.items() if k == f])
        xtr_std = _standardise(features[~te], features)[1]
        for wd in grid:
            xs.append(xtr_std)
            masks.append(~te)
            wds.append(wd)
            tests.append(te)
    x = torch.as_tensor(np.stack(xs), dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.long)
    w, b = fit_linear_probes_batched(
        x,
        yt,
        torch.as_tensor(np.stack(masks), dtype=torch.float64),
        num_classes,
        torch.as_tensor(wds, dtype=torch.float64),
        max_iter=100,
    )
    logits = torch.einsum("pnd,pcd->pnc", x, w) + b[:, None, :]
    ce = -logits.log_softmax(-1).gather(2, yt.expand(len(xs), -1)[..., None])[..., 0]  # (P, N)
    te_mask = torch.as_tensor(np.stack(tests), dtype=torch.float64)
    per_problem = ((ce * te_mask).sum(1) / te_mask.sum(1)).view(-1, len(grid))
    scores = per_problem.mean(0).tolist()
    best = min(scores)
    choice = max(wd for wd, s in zip(grid, scores) if s <= best + 1e-9)
    return float(choice), scores


def leave_one_group_out_scores(
    features: np.ndarray,
    labels: Sequence[int],
    groups: Sequence[Any],
    weight_decay: float | Sequence[float] = 1e-3,
    progress: bool = True,
) -> dict[str, Any]:
    """Leave-one-group-out probe: each group is predicted by a probe trained on all other groups.

    Only classes with at least two groups are used (a class seen in a single group can never be
    both trained and tested). ``weight_decay``: one L2 strength, or a grid; with a grid, each outer
    fold picks its strength by an inner grouped cross-validation over its own training groups
    (:func:`select_weight_decay`), so the held-out group never influences its own probe. Returns
    accuracy and macro-F1 over every held-out prediction, the per-group accuracies
    (``group_accuracy``, in the order of ``group_ids``), the strength chosen per fold, the
    predictions and the classes used. Deterministic: no random split.
    """
    labels = np.asarray(labels)
    groups = np.asarray([str(g) for g in groups])
    _, _, kept = grouped_stratified_split(labels, groups, 0.5, 0)
    if len(kept) < 2:
        raise ValueError(f"leave-one-group-out probe needs two classes with two or more groups, got {kept}")
    grid = [float(weight_decay)] if np.isscalar(weight_decay) else [float(w) for w in weight_decay]
    if not grid or min(grid) < 0:
        raise ValueError(
            f"weight_decay must be >= 0 or a non-empty grid of such values, got {weight_decay!r}"
        )
    use = np.isin(labels, kept)
    remap = {c: i for i, c in enumerate(kept)}
    y = np.array([remap.get(c, -1) for c in labels])
    preds = np.full(len(labels), -1)
    group_ids = sorted(set(groups[use].tolist()))
    group_acc, chosen = [], []
    for g in tqdm(group_ids, desc="probe folds", unit="fold", leave=False, disable=not progress):
        te = use & (groups == g)
        tr = use & (groups != g)
        wd = grid[0]
        if len(grid) > 1:
            wd, _ = select_weight_decay(features[tr], y[tr], groups[tr], len(kept), grid)
        chosen.append(wd)
        p = _fit_predict_logits(features[tr], y[tr], features[te], len(kept), wd).argmax(1).numpy()
        preds[te] = p
        group_acc.append(float(np.mean(p == y[te])))
    return {
        "accuracy": M.accuracy(preds[use], y[use]),
        "macro_f1": M.macro_f1(preds[use], y[use], labels=list(range(len(kept)))),
        # Each study counts once, however many slices it has.
        "study_accuracy": float(np.mean(group_acc)),
        "group_ids": group_ids,
        "group_accuracy": group_acc,
        "weight_decay_per_fold": chosen,
        "predictions": preds[use].tolist(),
        "references": y[use].tolist(),
        "classes": kept,
    }
