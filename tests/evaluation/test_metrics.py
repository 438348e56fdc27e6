"""Metrics against independent references: scikit-learn where it has the metric, hand-computed
cases (numbers worked out in the comments) otherwise."""

import math

import evaluate
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, roc_auc_score

from lvmmed_hf.evaluation import metrics as m

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- classification


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_and_macro_f1_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, 60)
    pred = np.where(rng.random(60) < 0.6, ref, rng.integers(0, 4, 60))
    assert m.accuracy(pred, ref) == pytest.approx(accuracy_score(ref, pred))
    assert m.macro_f1(pred, ref) == pytest.approx(f1_score(ref, pred, average="macro"))


def test_macro_f1_class_absent_from_references():
    # Class 2 is predicted but never present: F1(2) = 0, as sklearn with zero_division=0.
    ref = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])
    assert m.macro_f1(pred, ref) == pytest.approx(f1_score(ref, pred, average="macro", zero_division=0))
    # With an explicit label list including a class nobody used (3), that class counts as 0 too.
    assert m.macro_f1(pred, ref, labels=[0, 1, 2, 3]) == pytest.approx(
        f1_score(ref, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    )


@pytest.mark.parametrize("seed", range(5))
def test_binary_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 2, 50)
    scores = np.round(ref * 0.3 + rng.random(50), 1)  # rounding creates ties
    assert m.roc_auc(ref, scores) == pytest.approx(roc_auc_score(ref, scores))
    two_col = np.stack([1 - scores, scores], 1)
    assert m.roc_auc(ref, two_col) == pytest.approx(roc_auc_score(ref, scores))


@pytest.mark.parametrize("seed", range(5))
def test_ovr_auc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, 80)
    logits = rng.normal(size=(80, 4)) + 1.5 * np.eye(4)[ref]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = roc_auc_score(ref, probs, multi_class="ovr", average="macro")
    assert m.roc_auc(ref, probs) == pytest.approx(expected)


def test_auc_undefined_for_single_class():
    with pytest.raises(ValueError, match="only one class"):
        m.roc_auc([1, 1, 1], [0.2, 0.3, 0.9])


@pytest.mark.parametrize("seed", range(5))
def test_quadratic_kappa_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 5, 100)
    pred = np.clip(ref + rng.integers(-1, 2, 100), 0, 4)
    expected = cohen_kappa_score(ref, pred, weights="quadratic")
    assert m.quadratic_weighted_kappa(pred, ref) == pytest.approx(expected)
    # num_classes larger than the labels seen adds empty rows/columns; kappa must not change.
    assert m.quadratic_weighted_kappa(pred, ref, num_classes=7) == pytest.approx(expected)


def test_quadratic_kappa_hand_case():
    # ref = [0, 1, 2], pred = [0, 2, 2], K = 3: W = [[0, .25, 1], [.25, 0, .25], [1, .25, 0]].
    # O has ones at (0,0), (1,2), (2,2): sum(W*O) = 0.25.
    # Marginals: rows (ref) [1, 1, 1], cols (pred) [1, 0, 2]; E = outer / 3.
    # sum(W*E) = (1/3) * sum_i sum_j W[i,j] * col[j] = (1/3) * (row-sum over i of W[:,0]*1 + W[:,2]*2)
    #          = (1/3) * ((0 + .25 + 1) * 1 + (1 + .25 + 0) * 2) = (1/3) * 3.75 = 1.25.
    # kappa = 1 - 0.25 / 1.25 = 0.8.
    assert m.quadratic_weighted_kappa([0, 2, 2], [0, 1, 2]) == pytest.approx(0.8)


def test_classification_bad_input_is_named():
    with pytest.raises(ValueError, match="same length"):
        m.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="1-D"):
        m.accuracy([[0, 1]], [[0, 1]])


# ----------------------------------------------------------------------------- segmentation


def test_dice_iou_hand_case():
    # 3x3 maps, classes 0..2.
    pred = np.array([[0, 1, 1], [0, 1, 1], [2, 2, 0]])
    ref = np.array([[0, 1, 1], [0, 0, 1], [2, 0, 0]])
    # class 0: pred {(0,0),(1,0),(2,2)} = 3, ref {(0,0),(1,0),(1,1),(2,1),(2,2)} = 5, inter 3
    #   Dice = 6/8 = 0.75, IoU = 3/5 = 0.6
    # class 1: pred 4, ref 3, inter 3: Dice = 6/7, IoU = 3/4
    # class 2: pred 2, ref 1, inter 1: Dice = 2/3, IoU = 1/2
    np.testing.assert_allclose(m.dice_per_class(pred, ref, 3), [0.75, 6 / 7, 2 / 3])
    np.testing.assert_allclose(m.iou_per_class(pred, ref, 3), [0.6, 0.75, 0.5])


def test_dice_empty_reference_convention():
    # Sample 0: class 1 empty in both -> NaN (ignored) by default, 1.0 with ignore_empty=False.
    # Sample 1: class 1 empty in reference but predicted on 1 pixel -> NaN by default, 0.0 otherwise.
    # Sample 2: class 1 present: ref 2 px, pred 2 px, overlap 1 -> Dice 0.5.
    pred = np.array([[[0, 0], [0, 0]], [[1, 0], [0, 0]], [[1, 1], [0, 0]]])
    ref = np.array([[[0, 0], [0, 0]], [[0, 0], [0, 0]], [[1, 0], [1, 0]]])
    s = m.dice_scores(pred, ref, 2)
    assert math.isnan(s[0, 1]) and math.isnan(s[1, 1]) and s[2, 1] == pytest.approx(0.5)
    assert m.dice_per_class(pred, ref, 2)[1] == pytest.approx(0.5)  # mean over the one valid sample
    s2 = m.dice_scores(pred, ref, 2, ignore_empty=False)
    np.testing.assert_allclose(s2[:, 1], [1.0, 0.0, 0.5])
    assert m.dice_per_class(pred, ref, 2, ignore_empty=False)[1] == pytest.approx(0.5)  # (1+0+0.5)/3


def test_class_absent_from_batch_is_nan_and_excluded():
    pred = np.array([[0, 1], [1, 1]])
    ref = np.array([[0, 1], [0, 1]])
    per_class = m.dice_per_class(pred, ref, 3)  # class 2 is nowhere
    assert math.isnan(per_class[2])
    # evaluate wrapper: mean over the defined classes only: (2/3 + 4/5) / 2.
    dice = evaluate.load(m.metric_paths()["dice"])
    out = dice.compute(predictions=[pred.tolist()], references=[ref.tolist()], num_classes=3)
    assert out["mean_dice"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_ignore_index():
    # The 255 pixel is left out: class 1 then has ref 1 px, pred 1 px (the other pred-1 pixel is ignored).
    pred = np.array([[1, 1], [0, 0]])
    ref = np.array([[1, 255], [0, 0]])
    np.testing.assert_allclose(m.dice_per_class(pred, ref, 2, ignore_index=255), [1.0, 1.0])


def test_dice_matches_brute_force_on_random_maps():
    pred = RNG.integers(0, 4, (5, 7, 9))
    ref = RNG.integers(0, 4, (5, 7, 9))
    s = m.dice_scores(pred, ref, 4)
    j = m.iou_scores(pred, ref, 4)
    for n in range(5):
        for c in range(4):
            a, b = set(zip(*np.nonzero(pred[n] == c))), set(zip(*np.nonzero(ref[n] == c)))
            assert s[n, c] == pytest.approx(2 * len(a & b) / (len(a) + len(b)))
            assert j[n, c] == pytest.approx(len(a & b) / len(a | b))


def test_volume_dice_stacks_slices_by_index():
    # Volume "a": 2 slices given out of order; volume "b": 1 slice.
    # Volume a, class 1: slice 0 pred 2 px / ref 1 px / inter 1; slice 1 pred 0 / ref 1 / inter 0.
    #   3D Dice = 2*1 / (2 + 2) = 0.5 (the 2D slice means would be (2/3 + 0)/2 = 1/3: different on purpose).
    # Volume b, class 1: pred 1, ref 1, inter 1: Dice 1.
    a0_p, a0_r = np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]])
    a1_p, a1_r = np.array([[0, 0], [0, 0]]), np.array([[0, 0], [0, 1]])
    b0_p, b0_r = np.array([[0, 1], [0, 0]]), np.array([[0, 1], [0, 0]])
    preds, refs = [a1_p, b0_p, a0_p], [a1_r, b0_r, a0_r]
    out = m.volume_dice_iou(preds, refs, ["a", "b", "a"], [1, 0, 0], num_classes=2)
    dice = dict(zip(out["volume_ids"], out["dice"][:, 1]))
    assert dice["a"] == pytest.approx(0.5) and dice["b"] == pytest.approx(1.0)
    assert out["dice_per_class"][1] == pytest.approx(0.75)
    # IoU of volume a, class 1: inter 1 / union 3.
    assert dict(zip(out["volume_ids"], out["iou"][:, 1]))["a"] == pytest.approx(1 / 3)
    vols = m.assemble_volumes(preds, refs, ["a", "b", "a"], [1, 0, 0])
    np.testing.assert_array_equal(vols["a"][1], np.stack([a0_r, a1_r]))
    # The evaluate wrapper takes the same grouping.
    dice_mod = evaluate.load(m.metric_paths()["dice"])
    res = dice_mod.compute(
        predictions=[p.tolist() for p in preds],
        references=[r.tolist() for r in refs],
        num_classes=2,
        volume_ids=["a", "b", "a"],
        slice_indices=[1, 0, 0],
    )
    assert res["per_class_dice"][1] == pytest.approx(0.75)


def test_volume_repeated_slice_rejected():
    z = np.zeros((2, 2), dtype=int)
    with pytest.raises(ValueError, match="repeated slice index"):
        m.assemble_volumes([z, z], [z, z], ["v", "v"], [0, 0])


def test_segmentation_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        m.dice_scores(np.zeros((2, 2), int), np.zeros((2, 3), int), 2)
    with pytest.raises(TypeError, match="integer label maps"):
        m.dice_scores(np.zeros((2, 2)), np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="outside"):
        m.dice_scores(np.full((2, 2), 3), np.zeros((2, 2), int), 2)


# ----------------------------------------------------------------------------- detection


def test_box_iou_hand_case():
    # [0,0,10,10] vs [5,5,15,15]: inter 25, union 175.
    assert m.box_iou([[0, 0, 10, 10]], [[5, 5, 15, 15]])[0, 0] == pytest.approx(25 / 175)


def test_map_hand_case():
    # Class 1: 3 reference boxes over two images. Detections by score:
    #   0.9 img0 exact on ref A -> TP   (P=1,   R=1/3)
    #   0.8 img0 duplicate of A -> FP   (P=1/2, R=1/3)   (A already matched)
    #   0.7 img1 exact on ref C -> TP   (P=2/3, R=2/3)
    #   0.6 img1 far from all   -> FP   (P=1/2, R=2/3)
    # Ref B (img0) is never found. All-point AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
    # Class 2: one ref box, one detection at IoU 25/175 < 0.5 -> FP, AP 0.
    # mAP = (5/9 + 0) / 2 = 5/18.
    preds = [
        {
            "boxes": [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]],
            "scores": [0.9, 0.8, 0.3],
            "labels": [1, 1, 2],
        },
        {"boxes": [[20, 20, 30, 30], [50, 50, 60, 60]], "scores": [0.7, 0.6], "labels": [1, 1]},
    ]
    refs = [
        {"boxes": [[0, 0, 10, 10], [30, 0, 40, 10], [5, 5, 15, 15]], "labels": [1, 1, 2]},
        {"boxes": [[20, 20, 30, 30]], "labels": [1]},
    ]
    ap = m.average_precision_per_class(preds, refs)
    assert ap[1] == pytest.approx(5 / 9)
    assert ap[2] == pytest.approx(0.0)
    assert m.mean_average_precision(preds, refs) == pytest.approx(5 / 18)
    # At IoU threshold 0.1 the class-2 detection (IoU 1/7 = 0.143) becomes a TP: AP 1.
    assert m.average_precision_per_class(preds, refs, iou_threshold=0.1)[2] == pytest.approx(1.0)
    mod = evaluate.load(m.metric_paths()["mean_average_precision"])
    assert mod.compute(predictions=preds, references=refs)["map"] == pytest.approx(5 / 18)


def test_map_precision_envelope():
    # Class 0, 2 refs in one image. Detections: 0.9 FP, 0.8 TP, 0.7 TP.
    # (P, R): (0, 0), (1/2, 1/2), (2/3, 1). Envelope at R=1/2 takes max precision to the right: 2/3.
    # AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3 (without the envelope it would be 1/2*1/2 + 1/2*2/3 = 7/12).
    preds = [
        {
            "boxes": [[100, 100, 110, 110], [0, 0, 10, 10], [20, 0, 30, 10]],
            "scores": [0.9, 0.8, 0.7],
            "labels": [0, 0, 0],
        }
    ]
    refs = [{"boxes": [[0, 0, 10, 10], [20, 0, 30, 10]], "labels": [0, 0]}]
    assert m.mean_average_precision(preds, refs) == pytest.approx(2 / 3)


def test_map_no_predicted_boxes():
    refs = [{"boxes": [[0, 0, 10, 10]], "labels": [3]}]
    preds = [{"boxes": np.zeros((0, 4)), "scores": [], "labels": []}]
    assert m.average_precision_per_class(preds, refs) == {3: 0.0}
    assert m.mean_average_precision(preds, refs) == 0.0
    # No reference boxes at all: mAP undefined.
    assert math.isnan(m.mean_average_precision(preds, [{"boxes": np.zeros((0, 4)), "labels": []}]))


def test_map_bad_input():
    with pytest.raises(ValueError, match="scores"):
        m.mean_average_precision(
            [{"boxes": [[0, 0, 1, 1]], "labels": [0]}], [{"boxes": [[0, 0, 1, 1]], "labels": [0]}]
        )


# ----------------------------------------------------------------------------- evaluate modules


def test_every_evaluate_module_loads_offline_and_agrees_with_sklearn():
    paths = m.metric_paths()
    assert set(paths) == set(m.METRIC_NAMES)
    ref = RNG.integers(0, 3, 40)
    pred = np.where(RNG.random(40) < 0.7, ref, RNG.integers(0, 3, 40))
    assert evaluate.load(paths["accuracy"]).compute(predictions=pred, references=ref)[
        "accuracy"
    ] == pytest.approx(accuracy_score(ref, pred))
    assert evaluate.load(paths["macro_f1"]).compute(predictions=pred, references=ref)[
        "macro_f1"
    ] == pytest.approx(f1_score(ref, pred, average="macro"))
    assert evaluate.load(paths["quadratic_kappa"]).compute(predictions=pred, references=ref)[
        "quadratic_kappa"
    ] == pytest.approx(cohen_kappa_score(ref, pred, weights="quadratic"))
    probs = RNG.dirichlet(np.ones(3), 40) + 0.5 * np.eye(3)[ref]
    probs /= probs.sum(1, keepdims=True)
    assert evaluate.load(paths["roc_auc"]).compute(prediction_scores=probs, references=ref)[
        "roc_auc"
    ] == pytest.approx(roc_auc_score(ref, probs, multi_class="ovr"))
    iou = evaluate.load(paths["iou"]).compute(
        predictions=[[[0, 1], [1, 1]]], references=[[[0, 1], [0, 1]]], num_classes=2
    )
    # class 0: inter 1, union 2 -> 0.5; class 1: inter 2, union 3 -> 2/3.
    assert iou["per_class_iou"] == pytest.approx([0.5, 2 / 3])


# ----------------------------------------------------------------------------- mAP against the devkit's rule


def _voc_devkit_ap(preds, refs, cls, ovthresh=0.5):
    """An independent VOC AP for one class, written from the devkit's published rule (voc_eval:
    detections by descending confidence; ovmax / jmax over the image's boxes of the class; TP iff
    ``ovmax > ovthresh`` (strictly) and that box is not yet detected; all-point AP of the
    monotone precision envelope; continuous coordinates, no "+1")."""
    gts = {i: [b for b, c in zip(r["boxes"], r["labels"]) if c == cls] for i, r in enumerate(refs)}
    used = {i: [False] * len(g) for i, g in gts.items()}
    npos = sum(len(g) for g in gts.values())
    dets = [
        (s, i, b)
        for i, p in enumerate(preds)
        for b, s, c in zip(p["boxes"], p["scores"], p["labels"])
        if c == cls
    ]
    dets.sort(key=lambda d: -d[0])
    tp, fp = [], []
    for _, i, bb in dets:
        ovmax, jmax = -1.0, -1
        for j, g in enumerate(gts[i]):
            iw = max(min(bb[2], g[2]) - max(bb[0], g[0]), 0.0)
            ih = max(min(bb[3], g[3]) - max(bb[1], g[1]), 0.0)
            inter = iw * ih
            union = (bb[2] - bb[0]) * (bb[3] - bb[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            ov = inter / union
            if ov > ovmax:
                ovmax, jmax = ov, j
        hit = ovmax > ovthresh and not used[i][jmax]
        if hit:
            used[i][jmax] = True
        tp.append(1.0 if hit else 0.0)
        fp.append(0.0 if hit else 1.0)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for k in range(len(mpre) - 2, -1, -1):
        mpre[k] = max(mpre[k], mpre[k + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def _random_detection_case(rng, n_images=6, n_classes=3):
    refs, preds = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 4))
        xy = rng.uniform(0, 60, (k, 2))
        ref_boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (k, 2))], 1)
        ref_labels = rng.integers(0, n_classes, k)
        # Detections: jittered copies of the references (some duplicated), plus clutter.
        jitter = ref_boxes + rng.normal(0, 3, ref_boxes.shape)
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        m = int(rng.integers(0, 3))
        cxy = rng.uniform(0, 60, (m, 2))
        clutter = np.concatenate([cxy, cxy + rng.uniform(5, 30, (m, 2))], 1)
        boxes = np.concatenate([jitter, jitter[: k // 2], clutter])
        labels = np.concatenate([ref_labels, ref_labels[: k // 2], rng.integers(0, n_classes, m)])
        refs.append({"boxes": ref_boxes.reshape(-1, 4), "labels": ref_labels})
        preds.append({"boxes": boxes.reshape(-1, 4), "labels": labels, "scores": rng.random(len(labels))})
    return preds, refs


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_map_matches_an_independent_voc_devkit_implementation(seed, threshold):
    preds, refs = _random_detection_case(np.random.default_rng(seed))
    ours = m.average_precision_per_class(preds, refs, iou_threshold=threshold)
    classes = sorted({int(c) for r in refs for c in r["labels"]})
    assert sorted(ours) == classes
    for c in classes:
        assert ours[c] == pytest.approx(_voc_devkit_ap(preds, refs, c, threshold)), c


def test_map_iou_exactly_at_the_threshold_is_a_false_positive():
    # Reference [0, 0, 10, 10]; detection [0, 0, 10, 5]: intersection 50, union 100, IoU = 0.5 exactly
    # (binary fractions: no rounding). VOC: TP needs IoU > 0.5, so AP = 0; at threshold 0.49, AP = 1.
    refs = [{"boxes": [[0.0, 0.0, 10.0, 10.0]], "labels": [0]}]
    preds = [{"boxes": [[0.0, 0.0, 10.0, 5.0]], "labels": [0], "scores": [0.9]}]
    assert m.box_iou(preds[0]["boxes"], refs[0]["boxes"])[0, 0] == 0.5
    assert m.mean_average_precision(preds, refs, iou_threshold=0.5) == 0.0
    assert _voc_devkit_ap(preds, refs, 0, 0.5) == 0.0
    assert m.mean_average_precision(preds, refs, iou_threshold=0.49) == 1.0


def test_perfect_detections_give_map_one():
    _, refs = _random_detection_case(np.random.default_rng(3))
    perfect = [{**r, "scores": np.ones(len(r["labels"]))} for r in refs]
    assert m.mean_average_precision(perfect, refs) == 1.0
