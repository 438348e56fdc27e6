"""The blackbox gradient estimator against brute force and finite differences."""

import itertools

import pytest
import torch

from lvmmed_hf.graph_matching import (
    BruteForceSolver,
    QuadraticSolver,
    SolverError,
    blackbox_graph_matching,
    hamming_loss,
    knn_graphs,
    pair_indicators,
)

LAM = 80.0


def _instance(n=5, k=2, seed=0, num_graphs=2):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num_graphs, n, 4, generator=g)
    es, et = knn_graphs(z, k).edges, knn_graphs(z + 0.3 * torch.randn(num_graphs, n, 4, generator=g), k).edges
    cv = torch.randn(num_graphs, n, n, generator=g, dtype=torch.float64)
    ce = torch.randn(num_graphs, n * k, n * k, generator=g, dtype=torch.float64)
    return cv, ce, es, et


def _enumerated_max(cv, ce, es, et):
    """max over permutations of <c, y> for ONE graph, by explicit enumeration (float64)."""
    n = cv.shape[0]
    best = -float("inf")
    for perm in itertools.permutations(range(n)):
        x = torch.nn.functional.one_hot(torch.tensor(perm), n).double()
        value = (cv * x).sum() + (ce * pair_indicators(x[None], es[None], et[None])[0]).sum()
        best = max(best, float(value))
    return best


def test_gradient_is_the_exact_gradient_of_the_interpolated_loss():
    """Vlastelica et al.: with g = dL/dx (Hamming: 1 - 2I) the estimator is the gradient of
    F(c) = (max_y <c, y> - max_y <c - lambda g, y>) / lambda. F is computed here by enumeration and
    differentiated by central finite differences: an independent check of formula and signs."""
    cv, ce, es, et = _instance(seed=0)
    cv.requires_grad_(True)
    ce.requires_grad_(True)
    x = blackbox_graph_matching(cv, ce, es, et, BruteForceSolver(), lam=LAM)
    hamming_loss(x).sum().backward()
    n = cv.shape[-1]
    g_x = 1 - 2 * torch.eye(n, dtype=torch.float64)
    ng = g_x[None] - 0 * cv  # dL/dx for every graph

    def interp(g, cvv, cee):
        return (
            _enumerated_max(cvv, cee, es[g], et[g])
            - _enumerated_max(cvv - LAM * ng[g].detach(), cee, es[g], et[g])
        ) / LAM

    h = 1e-6
    gen = torch.Generator().manual_seed(1)
    checked_nonzero = 0
    for g in range(cv.shape[0]):
        for _ in range(6):
            i, a = torch.randint(0, n, (2,), generator=gen).tolist()
            d = torch.zeros_like(cv[g]).detach()
            d[i, a] = h
            fd = (
                interp(g, cv[g].detach() + d, ce[g].detach()) - interp(g, cv[g].detach() - d, ce[g].detach())
            ) / (2 * h)
            assert cv.grad[g, i, a].item() == pytest.approx(fd, abs=1e-6)
            checked_nonzero += fd != 0
        for _ in range(6):
            e, f = torch.randint(0, ce.shape[-1], (2,), generator=gen).tolist()
            d = torch.zeros_like(ce[g]).detach()
            d[e, f] = h
            fd = (
                interp(g, cv[g].detach(), ce[g].detach() + d) - interp(g, cv[g].detach(), ce[g].detach() - d)
            ) / (2 * h)
            assert ce.grad[g, e, f].item() == pytest.approx(fd, abs=1e-6)
    # every nonzero gradient entry is +-1/lambda, and the gradient is not all zero
    assert cv.grad.abs().max().item() == pytest.approx(1 / LAM)


def test_gradient_matches_the_formula_with_the_lambda_shifted_solution():
    cv, ce, es, et = _instance(seed=2, num_graphs=3)
    cv.requires_grad_(True)
    ce.requires_grad_(True)
    x = blackbox_graph_matching(cv, ce, es, et, BruteForceSolver(), lam=LAM)
    hamming_loss(x).sum().backward()
    n = cv.shape[-1]
    shifted = cv.detach() - LAM * (1 - 2 * torch.eye(n, dtype=torch.float64))
    for g in range(3):
        # independent enumeration of the backward solve
        best, best_perm = -float("inf"), None
        for perm in itertools.permutations(range(n)):
            xp = torch.nn.functional.one_hot(torch.tensor(perm), n).double()
            v = float(
                (shifted[g] * xp).sum()
                + (ce[g].detach() * pair_indicators(xp[None], es[g : g + 1], et[g : g + 1])[0]).sum()
            )
            if v > best:
                best, best_perm = v, xp
        torch.testing.assert_close(cv.grad[g], (x[g].detach() - best_perm) / LAM)
        expected_e = (
            pair_indicators(x[g : g + 1].detach(), es[g : g + 1], et[g : g + 1])
            - pair_indicators(best_perm[None], es[g : g + 1], et[g : g + 1])
        )[0] / LAM
        torch.testing.assert_close(ce.grad[g], expected_e)


def test_quadratic_solver_gives_the_brute_force_gradient_on_easy_instances():
    cv, ce, es, et = _instance(n=6, seed=3, num_graphs=8)
    cv = (cv + 2.0 * torch.eye(6)).float()
    ce = (0.1 * ce).float()
    grads = []
    for solver in (BruteForceSolver(), QuadraticSolver()):
        a, b = cv.clone().requires_grad_(True), ce.clone().requires_grad_(True)
        hamming_loss(blackbox_graph_matching(a, b, es, et, solver, lam=LAM)).sum().backward()
        grads.append((a.grad, b.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_one_gradient_step_on_the_affinities_lowers_the_hamming_loss():
    """Direction: c <- c - eta * dL/dc (noise off) lowers the loss of the re-solved matching."""
    cv, ce, es, et = _instance(n=6, seed=4, num_graphs=40)
    cv, ce = cv.float().requires_grad_(True), ce.float().requires_grad_(True)
    solver = BruteForceSolver()
    before = hamming_loss(blackbox_graph_matching(cv, ce, es, et, solver, lam=LAM))
    before.sum().backward()
    assert (before > 0).sum() >= 30
    with torch.no_grad():
        after = hamming_loss(
            blackbox_graph_matching(cv - LAM * cv.grad, ce - LAM * ce.grad, es, et, solver, lam=LAM)
        )
    assert torch.all(after <= before.detach())
    assert after.sum() < 0.5 * before.detach().sum()


def test_gumbel_noise_changes_the_forward_solution_but_not_the_rule():
    cv, ce, es, et = _instance(n=6, seed=5, num_graphs=20)
    cv, ce = 0.1 * cv.float(), 0.1 * ce.float()
    clean = blackbox_graph_matching(cv, ce, es, et, BruteForceSolver(), noise_scale=0.0)
    noisy = blackbox_graph_matching(
        cv, ce, es, et, BruteForceSolver(), noise_scale=1.0, generator=torch.Generator().manual_seed(0)
    )
    assert not torch.equal(clean, noisy)
    again = blackbox_graph_matching(
        cv, ce, es, et, BruteForceSolver(), noise_scale=1.0, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(noisy, again)


class _BrokenSolver:
    def __init__(self, mode):
        self.mode = mode
        self.calls = 0

    def __call__(self, cv, ce, es, et):
        self.calls += 1
        if self.mode == "raise" or (self.mode == "raise_in_backward" and self.calls > 1):
            raise RuntimeError("numerical trouble")
        if self.mode == "not_permutation":
            return torch.ones_like(cv)
        return BruteForceSolver()(cv, ce, es, et)


@pytest.mark.parametrize("mode", ["raise", "not_permutation"])
def test_failing_solver_raises_in_forward(mode):
    cv, ce, es, et = _instance(seed=6)
    with pytest.raises(SolverError):
        blackbox_graph_matching(cv.requires_grad_(True), ce, es, et, _BrokenSolver(mode))


def test_failing_solver_in_backward_raises_instead_of_a_zero_gradient():
    cv, ce, es, et = _instance(seed=7)
    cv.requires_grad_(True)
    x = blackbox_graph_matching(cv, ce, es, et, _BrokenSolver("raise_in_backward"))
    with pytest.raises(SolverError, match="backward"):
        hamming_loss(x).sum().backward()


def test_nan_affinities_are_rejected():
    cv, ce, es, et = _instance(seed=8)
    cv[0, 0, 0] = float("nan")
    with pytest.raises(SolverError, match="NaN"):
        blackbox_graph_matching(cv, ce, es, et, BruteForceSolver())
    with pytest.raises(ValueError, match="lambda"):
        blackbox_graph_matching(cv, ce, es, et, BruteForceSolver(), lam=0.0)


def test_gradient_scales_with_the_loss_weight():
    """Mean over graphs, gradient accumulation (loss / steps) and AMP loss scaling multiply the
    loss: the estimate must scale the same way, with the same lambda-shifted solution."""
    cv, ce, es, et = _instance(seed=9, num_graphs=3)
    grads = []
    for weight in (1.0, 0.5, 1.0 / 3, 1024.0):
        a, b = cv.clone().requires_grad_(True), ce.clone().requires_grad_(True)
        (
            weight * hamming_loss(blackbox_graph_matching(a, b, es, et, BruteForceSolver(), lam=LAM)).sum()
        ).backward()
        grads.append((a.grad / weight, b.grad / weight))
    assert grads[0][0].abs().sum() > 0
    for g_cv, g_ce in grads[1:]:
        torch.testing.assert_close(g_cv, grads[0][0])
        torch.testing.assert_close(g_ce, grads[0][1])
