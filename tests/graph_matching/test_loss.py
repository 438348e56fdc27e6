"""The composed loss: each Table-6 switch changes what it should and nothing else; bad input."""

import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lvmmed_hf.graph_matching import (
    GraphMatchingLoss,
    GraphMatchingLossConfig,
    LinearAssignmentSolver,
    QuadraticSolver,
    global_affinity,
    hamming_loss,
)

B, D, C = 32, 128, 8


def _inputs(seed=0, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(B, D, generator=g)
    zt = zs + noise * torch.randn(B, D, generator=g)
    ys = torch.randn(B, C, 3, 3, generator=g)
    yt = ys + noise * torch.randn(B, C, 3, 3, generator=g)
    boxes = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(B, 1)
    return zs, zt, ys, yt, boxes, boxes.clone()


def _loss(**kw):
    torch.manual_seed(0)  # same GCN weights for every variant
    return GraphMatchingLoss(GraphMatchingLossConfig(**kw))


def test_hamming_loss_counts_wrong_entries():
    x = torch.eye(4)[[1, 0, 2, 3]].unsqueeze(0)
    assert hamming_loss(x).item() == 4.0
    assert hamming_loss(torch.eye(4)[None]).item() == 0.0


def test_full_loss_runs_and_backpropagates_to_all_inputs():
    zs, zt, ys, yt, bs, bt = _inputs()
    for t in (zs, zt, ys, yt):
        t.requires_grad_(True)
    loss_fn = _loss(gumbel_scale=1.0)
    out = loss_fn(zs, zt, ys, yt, bs, bt, generator=torch.Generator().manual_seed(0))
    assert out.num_graphs == 2 and out.matching.shape == (2, 16, 16)
    assert out.loss.item() > 0
    out.loss.backward()
    for t in (zs, zt, ys, yt):
        assert t.grad is not None and t.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in loss_fn.gcn.parameters())
    assert loss_fn.timer.seconds > 0


def test_second_order_switch_only_drops_the_edge_term():
    inp = _inputs()
    full, first = _loss(), _loss(second_order=False)
    cv1, ce1, *_ = full.affinities(*inp)
    cv2, ce2, *_ = first.affinities(*inp)
    assert ce1.shape == (2, 80, 80) and ce2 is None
    torch.testing.assert_close(cv1, cv2)
    assert isinstance(full.solver, QuadraticSolver) and isinstance(first.solver, LinearAssignmentSolver)
    first.eval()
    x = first(*inp).matching
    for g in range(2):
        r, c = linear_sum_assignment(cv2[g].detach().numpy(), maximize=True)
        assert x[g].argmax(1).tolist() == c.tolist()


def test_message_passing_switch_only_removes_the_gcn():
    inp = _inputs()
    off = _loss(message_passing=False, local_similarity=False)
    assert off.gcn is None and len(list(off.parameters())) == 0
    cv, ce, gs, gt = off.affinities(*inp)
    torch.testing.assert_close(cv, global_affinity(inp[0].view(2, 16, D), inp[1].view(2, 16, D)))
    cv_on, _, gs_on, _ = _loss(local_similarity=False).affinities(*inp)
    assert torch.equal(gs.edges, gs_on.edges)  # graphs are built on z either way
    assert not torch.allclose(cv, cv_on)


def test_local_similarity_switch_and_alpha():
    inp = _inputs()
    glob_only, _, *_ = _loss(local_similarity=False).affinities(*inp)
    with_local, ce_a, *_ = _loss(alpha=0.8).affinities(*inp)
    alpha_one, ce_b, *_ = _loss(alpha=1.0).affinities(*inp)
    torch.testing.assert_close(alpha_one, glob_only)
    torch.testing.assert_close(ce_a, ce_b)  # edges do not depend on the local term
    local = (with_local - 0.8 * glob_only) / 0.2
    assert local.abs().max() <= 1.0 + 1e-5 and not torch.allclose(with_local, glob_only)
    # without local similarity the feature maps are not needed at all
    _loss(local_similarity=False)(inp[0], inp[1])
    with pytest.raises(ValueError, match="feature maps"):
        _loss()(inp[0], inp[1])


def test_gumbel_switch_only_changes_the_noise():
    inp = _inputs(noise=1.0)
    noisy, clean = _loss(gumbel=True, gumbel_scale=1.0), _loss(gumbel=False, margin=0.0)
    torch.testing.assert_close(noisy.affinities(*inp)[0], clean.affinities(*inp)[0])
    a, b = clean(*inp).matching, clean(*inp).matching
    assert torch.equal(a, b)
    n1 = noisy(*inp, generator=torch.Generator().manual_seed(0)).matching
    n2 = noisy(*inp, generator=torch.Generator().manual_seed(1)).matching
    assert not torch.equal(n1, n2)
    noisy.eval()  # no noise at evaluation time
    assert torch.equal(noisy(*inp).matching, clean(*inp).matching)
    scale0 = _loss(gumbel=True, gumbel_scale=0.0, margin=0.0)
    assert torch.equal(scale0(*inp).matching, a)


def test_margin_lowers_gold_affinities_only_in_training():
    inp = _inputs(noise=0.6)
    plain, margin = _loss(gumbel=False, margin=0.0), _loss(gumbel=False, margin=1.0)
    acc_plain = plain(*inp).matching_accuracy
    acc_margin = margin(*inp).matching_accuracy
    assert acc_margin < acc_plain
    margin.eval()
    plain.eval()
    assert torch.equal(margin(*inp).matching, plain(*inp).matching)


def test_graph_size_and_k():
    zs, zt, ys, yt, bs, bt = _inputs()
    loss = _loss(graph_size=8, k=3, local_similarity=False)
    cv, ce, gs, _ = loss.affinities(zs, zt)
    assert cv.shape == (4, 8, 8) and ce.shape == (4, 24, 24) and gs.edges.shape == (4, 24, 2)
    with pytest.raises(ValueError, match="option k=4 is invalid"):
        _loss(graph_size=4, k=4)
    with pytest.raises(ValueError, match="unknown graph-matching options"):
        GraphMatchingLossConfig.from_dict({"lambda": 3})


def test_lambda_is_passed_to_the_estimator():
    inp = _inputs(noise=1.0)
    grads = []
    for lam in (80.0, 8.0):
        zs = inp[0].clone().requires_grad_(True)
        out = _loss(gumbel=False, blackbox_lambda=lam, local_similarity=False)(zs, inp[1])
        out.loss.backward()
        grads.append(zs.grad.abs().sum())
    assert grads[1] > grads[0]


def test_bad_input_is_rejected_clearly():
    zs, zt, ys, yt, bs, bt = _inputs()
    loss = _loss()
    with pytest.raises(ValueError, match="smaller than one graph"):
        loss(zs[:10], zt[:10], ys[:10], yt[:10], bs[:10], bt[:10])
    bad = zs.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match="z_s contains NaN"):
        loss(bad, zt, ys, yt, bs, bt)
    bad_y = yt.clone()
    bad_y[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="y_t contains NaN or inf"):
        loss(zs, zt, ys, bad_y, bs, bt)
    with pytest.raises(ValueError, match="z_s and z_t"):
        loss(zs, zt[:, :5], ys, yt, bs, bt)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gumbel_scale": -0.5}, "gumbel_scale=-0.5 is invalid"),
        ({"blackbox_lambda": -80.0}, "blackbox_lambda=-80.0 is invalid"),
        ({"blackbox_lambda": 0.0}, "blackbox_lambda=0.0 is invalid"),
        ({"margin": -1.0}, "margin=-1.0 is invalid"),
        ({"alpha": 1.5}, "alpha=1.5 is invalid"),
        ({"graph_size": 1, "k": 1}, "graph_size=1 is invalid"),
        ({"gamma": 0}, "gamma=0 is invalid"),
        ({"solver": "hungarian"}, "solver='hungarian' is invalid"),
        ({"lap_backend": "cuda"}, "lap_backend='cuda' is invalid"),
        ({"solver_restarts": -1}, "solver_restarts=-1 is invalid"),
        ({"gcn_layers": 0}, "gcn_layers=0 is invalid"),
        ({"gcn_residual": True, "gcn_hidden_dim": 64}, "gcn_residual=True is invalid"),
    ],
)
def test_invalid_options_are_refused_when_the_config_is_built(options, message):
    """Refused by the config itself (so by the command line before any work), not at a step."""
    with pytest.raises(ValueError, match=message):
        GraphMatchingLossConfig(**options)
    with pytest.raises(ValueError, match=message):
        GraphMatchingLossConfig.from_dict(options)
    import dataclasses

    with pytest.raises(ValueError, match=message):
        dataclasses.replace(GraphMatchingLossConfig(), **options)


def test_every_config_field_has_a_command_line_help():
    import dataclasses

    for f in dataclasses.fields(GraphMatchingLossConfig):
        assert f.metadata.get("help"), f.name


class _RecordingSolver:
    """The exact linear solver, recording the costs it is given."""

    def __init__(self):
        self.seen = []
        self.inner = LinearAssignmentSolver()

    def __call__(self, cv, ce, es, et):
        self.seen.append(cv.clone())
        return self.inner(cv, ce, es, et)


def test_without_gumbel_noise_the_gold_costs_get_the_bb_gm_margin():
    """Paper Table 6 "w/o Gumbel noise" = BB-GM's margin: +margin on the unary COSTS of the gold
    (identity) pairs, i.e. -margin on their affinities, in training only, size = ``margin``."""
    inp = _inputs(noise=0.6)
    for margin in (1.0, 0.25):
        loss_fn = _loss(gumbel=False, margin=margin, second_order=False)
        spy = _RecordingSolver()
        loss_fn._solvers[False] = spy
        cv, *_ = loss_fn.affinities(*inp)
        loss_fn(*inp)
        torch.testing.assert_close(spy.seen[0], cv - margin * torch.eye(16))
        loss_fn.eval()
        loss_fn(*inp)
        torch.testing.assert_close(spy.seen[-1], cv)  # no margin at evaluation
    # the default margin is 1.0 and applies only without noise
    assert GraphMatchingLossConfig().margin == 1.0
    noisy = _loss(gumbel=True, gumbel_scale=1.0, second_order=False)
    spy = _RecordingSolver()
    noisy._solvers[False] = spy
    cv, *_ = noisy.affinities(*inp)
    noisy(*inp, generator=torch.Generator().manual_seed(0))
    off_diagonal = ~torch.eye(16, dtype=torch.bool)
    # Gumbel noise, no margin: the diagonal is not shifted by a constant
    shift = (spy.seen[0] - cv).diagonal(dim1=1, dim2=2)
    assert shift.std() > 0.3 and (spy.seen[0] - cv)[:, off_diagonal].abs().sum() > 0
