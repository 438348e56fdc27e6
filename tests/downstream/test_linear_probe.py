"""Linear probe: scikit-learn's logistic regression inside grouped, nested cross-validation."""

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from lvmmed_hf.downstream.linear_probe import (
    classes_with_two_groups,
    grouped_cv_probe_scores,
    grouped_folds,
    images_to_pixel_values,
)


def _grouped_data(seed, signal, classes=3, groups_per_class=5, per_group=4, dim=8):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), groups_per_class * per_group)
    groups = np.array([f"{c}-{i // per_group}" for c, i in zip(labels, range(len(labels)))])
    x = rng.normal(size=(len(labels), dim)) + signal * np.eye(classes, dim)[labels]
    return x, labels, groups


def test_grouped_folds_keep_groups_whole_and_every_class_on_both_sides():
    labels = np.array([0] * 6 + [1] * 6 + [2] * 3)
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f", "g", "g", "g"])
    folds = grouped_folds(labels, groups, 2)
    assert classes_with_two_groups(labels, groups) == [0, 1]
    test_fold = folds.test_fold
    assert (test_fold[groups == "g"] == -1).all()  # class 2 has one group: always trained on
    for tr, te in folds.split():
        assert set(groups[tr]).isdisjoint(groups[te])
        assert {0, 1} <= set(labels[tr]) and {0, 1} <= set(labels[te])


def test_probe_scores_separable_vs_noise():
    good, labels, groups = _grouped_data(1, signal=4.0)
    noise, _, _ = _grouped_data(2, signal=0.0)
    s_good = grouped_cv_probe_scores(good, labels, groups, progress=False)
    s_noise = grouped_cv_probe_scores(noise, labels, groups, progress=False)
    assert s_good["accuracy"] > 0.9 and s_good["macro_f1"] > 0.9 and s_good["study_accuracy"] > 0.9
    assert s_noise["accuracy"] < 0.7


def test_fixed_c_equals_a_plain_scikit_learn_fit_per_fold():
    x, labels, groups = _grouped_data(3, signal=1.0)
    labels[groups == "2-4"] = 5  # class 5: a single group, left out of the probe
    ours = grouped_cv_probe_scores(x, labels, groups, c_grid=0.05, n_folds=5, progress=False)
    assert ours["classes"] == [0, 1, 2] and len(ours["group_ids"]) == 15
    use = labels != 5
    xs, ys, gs = x[use], labels[use], groups[use]
    # Folds written out here: within each class, its sorted groups go to folds 0, 1, 2, ...
    fold = np.array([int(g.split("-")[1]) % 5 for g in gs])
    ref = np.empty(len(ys), dtype=int)
    for f in range(5):
        tr, te = fold != f, fold == f
        scaler = StandardScaler().fit(xs[tr])
        clf = LogisticRegression(C=0.05, class_weight="balanced", max_iter=2000)
        ref[te] = clf.fit(scaler.transform(xs[tr]), ys[tr]).predict(scaler.transform(xs[te]))
    np.testing.assert_array_equal(ours["predictions"], ref)
    assert ours["accuracy"] == pytest.approx(np.mean(ref == ys))
    per_group = [np.mean(ref[gs == g] == ys[gs == g]) for g in sorted(set(gs))]
    assert ours["study_accuracy"] == pytest.approx(np.mean(per_group))


def test_nested_c_never_sees_the_held_out_groups():
    x, labels, groups = _grouped_data(5, signal=0.8, classes=2, groups_per_class=4, per_group=6, dim=5)
    grid = [1e-3, 1e-1, 10.0]
    ours = grouped_cv_probe_scores(x, labels, groups, c_grid=grid, n_folds=4, progress=False)
    assert len(ours["c_per_fold"]) == 4 and set(ours["c_per_fold"]) <= set(grid)
    # Fold 0 holds out the first group of each class ("0-0", "1-0"): scrambling their features
    # must not change the C chosen for fold 0 (it is chosen on the training groups only).
    x2 = x.copy()
    held = np.isin(groups, ["0-0", "1-0"])
    x2[held] = np.random.default_rng(9).normal(size=(int(held.sum()), 5)) * 50
    other = grouped_cv_probe_scores(x2, labels, groups, c_grid=grid, n_folds=4, progress=False)
    assert other["c_per_fold"][0] == ours["c_per_fold"][0]


def test_probe_is_deterministic_and_rejects_untestable_input():
    x, labels, groups = _grouped_data(6, signal=1.0)
    a = grouped_cv_probe_scores(x, labels, groups, progress=False)
    b = grouped_cv_probe_scores(x, labels, groups, progress=False)
    assert a == b
    with pytest.raises(ValueError, match="two classes with two or more groups"):
        grouped_cv_probe_scores(x, labels, np.where(labels == 0, groups, "one"), progress=False)
    with pytest.raises(ValueError, match="c_grid"):
        grouped_cv_probe_scores(x, labels, groups, c_grid=[0.0, 1.0], progress=False)


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
