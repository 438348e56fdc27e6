"""Linear probe: the L-BFGS logistic regression against scikit-learn, grouped stratified splits."""

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from lvmmed_hf.downstream.linear_probe import (
    fit_linear_probe,
    grouped_stratified_split,
    images_to_pixel_values,
    linear_probe_scores,
)


def test_probe_matches_sklearn_logistic_regression():
    rng = np.random.default_rng(0)
    n, d, k = 90, 5, 3
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, d)) + np.eye(k, d)[y] * 1.5
    wd = 0.01
    w, b = fit_linear_probe(x, y, k, weight_decay=wd, max_iter=500)
    # Same objective: sklearn minimises C * sum_i w_i CE_i + 0.5 ||W||^2 (intercept not penalised),
    # ours mean_i-weighted CE + wd ||W||^2 with balanced weights summing to n  ->  C = 1 / (2 wd n).
    ref = LogisticRegression(C=1 / (2 * wd * n), class_weight="balanced", max_iter=5000, tol=1e-10).fit(x, y)
    np.testing.assert_allclose(w.numpy(), ref.coef_, atol=2e-3)
    np.testing.assert_allclose(
        b.numpy() - b.numpy().mean(), ref.intercept_ - ref.intercept_.mean(), atol=2e-3
    )


def test_grouped_split_keeps_groups_whole_and_drops_single_group_classes():
    labels = [0] * 6 + [1] * 6 + [2] * 3
    groups = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f", "g", "g", "g"]  # class 2: one group
    for seed in range(5):
        tr, te, kept = grouped_stratified_split(labels, groups, 0.4, seed)
        assert kept == [0, 1]
        g_tr, g_te = {groups[i] for i in tr}, {groups[i] for i in te}
        assert g_tr.isdisjoint(g_te) and "g" not in g_tr | g_te
        assert {labels[i] for i in te} == {0, 1} and {labels[i] for i in tr} == {0, 1}


def test_probe_scores_separable_vs_noise():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 20)
    groups = [f"{c}-{i // 4}" for c, i in zip(labels, range(60))]  # 5 groups of 4 per class
    good = rng.normal(size=(60, 8)) + 4 * np.eye(3, 8)[labels]
    noise = rng.normal(size=(60, 8))
    s_good = linear_probe_scores(good, labels, groups, n_repeats=3)
    s_noise = linear_probe_scores(noise, labels, groups, n_repeats=3)
    assert s_good["accuracy"] > 0.9 and s_good["macro_f1"] > 0.9
    assert s_noise["accuracy"] < 0.8


def test_pixel_values_for_8_and_16_bit():
    a8 = Image.fromarray(np.full((10, 20), 255, np.uint8))
    a16 = Image.fromarray(np.linspace(0, 4000, 200).reshape(10, 20).astype(np.uint16))
    x = images_to_pixel_values([a8, a16], 16)
    assert x.shape == (2, 3, 16, 16)
    # White 8-bit image -> (1 - mean) / std in every channel.
    np.testing.assert_allclose(
        x[0, :, 0, 0].numpy(),
        (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
        rtol=1e-5,
    )
    # 16-bit: the stored value / 65535 (the package's intensity convention, no per-image
    # min-max), not clipped at 255: the ramp 0..4000 spans [0, 4000 / 65535] after the resize.
    unit = x[1, 0] * 0.229 + 0.485
    assert unit.min() >= -1e-6 and 0.9 * 4000 / 65535 < unit.max() <= 4000 / 65535 + 1e-6


def test_leave_one_group_out_matches_sklearn():
    from sklearn.model_selection import LeaveOneGroupOut
    from sklearn.preprocessing import StandardScaler

    from lvmmed_hf.downstream.linear_probe import leave_one_group_out_scores

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2, 5], 12)  # class 5: a single group -> left out
    groups = np.array([f"{c}-{i % 3}" if c != 5 else "solo" for i, c in enumerate(labels)])
    x = rng.normal(size=(48, 6)) + 1.2 * np.eye(6)[labels]
    wd = 0.05
    ours = leave_one_group_out_scores(x, labels, groups, weight_decay=wd)
    assert ours["classes"] == [0, 1, 2] and len(ours["group_ids"]) == 9
    use = labels != 5
    xs, ys, gs = x[use], labels[use], groups[use]
    ref_pred = np.empty(len(ys), dtype=int)
    for tr, te in LeaveOneGroupOut().split(xs, ys, gs):
        sc = StandardScaler().fit(xs[tr])
        # StandardScaler uses the population std, as ours; C = 1 / (2 wd n_train) (see the test above).
        clf = LogisticRegression(C=1 / (2 * wd * len(tr)), class_weight="balanced", max_iter=5000, tol=1e-10)
        ref_pred[te] = clf.fit(sc.transform(xs[tr]), ys[tr]).predict(sc.transform(xs[te]))
    # Groups are ordered differently; compare the prediction per sample.
    ours_by_sample = dict(zip(np.nonzero(use)[0], ours["predictions"]))
    agree = np.mean([ours_by_sample[i] == p for i, p in zip(np.nonzero(use)[0], ref_pred)])
    assert agree >= 0.97  # identical objective; a borderline sample may flip within solver tolerance
    assert ours["accuracy"] == pytest.approx(np.mean(ref_pred == ys), abs=0.03)


def test_batched_probes_match_single_fits():
    from lvmmed_hf.downstream.linear_probe import fit_linear_probes_batched

    rng = np.random.default_rng(4)
    n, d, k = 40, 6, 3
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, d)) + np.eye(k, d)[y]
    masks = np.stack([np.ones(n), rng.random(n) < 0.7, rng.random(n) < 0.7]).astype(float)
    wds = [1e-2, 1e-1, 1.0]
    xb = np.repeat(x[None], 3, 0)
    import torch

    w, b = fit_linear_probes_batched(
        torch.as_tensor(xb),
        torch.as_tensor(y),
        torch.as_tensor(masks),
        k,
        torch.as_tensor(wds),
        max_iter=1000,
    )
    for i in range(3):
        sel = masks[i] > 0
        w1, b1 = fit_linear_probe(x[sel], y[sel], k, weight_decay=wds[i], max_iter=500)
        np.testing.assert_allclose(w[i].numpy(), w1.numpy(), atol=2e-3)


def test_nested_weight_decay_never_sees_the_held_out_group():
    from lvmmed_hf.downstream.linear_probe import leave_one_group_out_scores

    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], 24)
    groups = np.array([f"{c}-{i % 4}" for i, c in enumerate(labels)])
    x = rng.normal(size=(48, 5)) + 0.8 * np.eye(2, 5)[labels]
    grid = [1e-3, 1e-1, 10.0]
    ours = leave_one_group_out_scores(x, labels, groups, weight_decay=grid, progress=False)
    assert len(ours["weight_decay_per_fold"]) == 8 and set(ours["weight_decay_per_fold"]) <= set(grid)
    # Changing the held-out group's features must not change the strength chosen for its fold.
    x2 = x.copy()
    first = ours["group_ids"][0]
    x2[groups == first] = rng.normal(size=(int((groups == first).sum()), 5)) * 50
    other = leave_one_group_out_scores(x2, labels, groups, weight_decay=grid, progress=False)
    assert other["weight_decay_per_fold"][0] == ours["weight_decay_per_fold"][0]
