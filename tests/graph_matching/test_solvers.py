"""Solvers against enumeration and scipy."""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lvmmed_hf.graph_matching import (
    BruteForceSolver,
    LinearAssignmentSolver,
    QuadraticSolver,
    build_solver,
    knn_graphs,
    lawler_matrix,
    linear_assignment,
    qap_objective,
)


def _instances(num_graphs, n, k, seed, unary_scale=0.3, diag_boost=0.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num_graphs, n, 8, generator=g)
    zt = z + 0.5 * torch.randn(num_graphs, n, 8, generator=g)
    es, et = knn_graphs(z, k).edges, knn_graphs(zt, k).edges
    cv = unary_scale * torch.randn(num_graphs, n, n, generator=g) + diag_boost * torch.eye(n)
    ce = torch.randn(num_graphs, n * k, n * k, generator=g)
    return cv, ce, es, et


def _objective_loop(perm, cv, ce, es, et):
    """Eq. 4 objective of one permutation, written out term by term."""
    value = sum(float(cv[i, perm[i]]) for i in range(len(perm)))
    for e, (i, j) in enumerate(es.tolist()):
        for f, (a, b) in enumerate(et.tolist()):
            if perm[i] == a and perm[j] == b:
                value += float(ce[e, f])
    return value


def test_objective_and_lawler_matrix_agree_with_the_written_out_sum():
    cv, ce, es, et = _instances(3, 5, 2, seed=0)
    rng = np.random.default_rng(0)
    k = lawler_matrix(cv.double(), ce.double(), es, et)
    for g in range(3):
        perm = rng.permutation(5)
        x = torch.nn.functional.one_hot(torch.from_numpy(perm), 5).double().unsqueeze(0)
        ref = _objective_loop(perm, cv[g], ce[g], es[g], et[g])
        assert qap_objective(
            x, cv[g : g + 1].double(), ce[g : g + 1].double(), es[g : g + 1], et[g : g + 1]
        ).item() == pytest.approx(ref)
        v = x.reshape(-1)
        assert (v @ k[g] @ v).item() == pytest.approx(ref)


def test_brute_force_solver_is_the_enumerated_optimum():
    cv, ce, es, et = _instances(4, 5, 2, seed=1)
    x = BruteForceSolver()(cv, ce, es, et)
    for g in range(4):
        best = max(
            itertools.permutations(range(5)), key=lambda p: _objective_loop(p, cv[g], ce[g], es[g], et[g])
        )
        assert x[g].argmax(1).tolist() == list(best)


@pytest.mark.parametrize("backend", ["scipy", "torch"])
def test_linear_assignment_is_exact(backend):
    torch.manual_seed(0)
    scores = torch.randn(20, 16, 16)
    perm = linear_assignment(scores, backend)
    for g in range(20):
        r, c = linear_sum_assignment(scores[g].numpy(), maximize=True)
        assert scores[g].numpy()[r, c].sum() == pytest.approx(
            scores[g].gather(1, perm[g : g + 1].T).sum().item(), abs=1e-5
        )
        assert sorted(perm[g].tolist()) == list(range(16))


def test_linear_solver_ignores_edges_and_returns_permutations():
    cv, ce, es, et = _instances(5, 6, 2, seed=2)
    x = LinearAssignmentSolver()(cv, ce, es, et)
    assert torch.equal(x, LinearAssignmentSolver()(cv, None, None, None))
    assert torch.all(x.sum(1) == 1) and torch.all(x.sum(2) == 1)


def test_quadratic_solver_is_close_to_the_exact_optimum_on_random_instances():
    """Stated tolerance: mean relative gap < 5 %, optimal on >= 60 % of 200 random n = 6, k = 2
    instances with strong pairwise terms (measured: 2.7 % and 75 %)."""
    cv, ce, es, et = _instances(200, 6, 2, seed=3)
    exact = qap_objective(BruteForceSolver()(cv, ce, es, et), cv, ce, es, et)
    approx = qap_objective(QuadraticSolver()(cv, ce, es, et), cv, ce, es, et)
    assert torch.all(approx <= exact + 1e-5)
    gap = (exact - approx) / exact.abs()
    assert gap.mean() < 0.05
    assert (gap < 1e-6).float().mean() >= 0.6


def test_quadratic_solver_is_exact_when_the_diagonal_dominates():
    cv, ce, es, et = _instances(100, 6, 2, seed=4, unary_scale=0.3, diag_boost=6.0)
    ce = 0.2 * ce
    exact = BruteForceSolver()(cv, ce, es, et)
    assert torch.equal(exact, torch.eye(6).expand(100, 6, 6))
    assert torch.equal(QuadraticSolver()(cv, ce, es, et), exact)


def test_quadratic_solver_beats_the_first_order_solution_at_paper_size():
    cv, ce, es, et = _instances(20, 16, 5, seed=5)
    q = qap_objective(QuadraticSolver()(cv, ce, es, et), cv, ce, es, et)
    lin = qap_objective(LinearAssignmentSolver()(cv, ce, es, et), cv, ce, es, et)
    assert torch.all(q >= lin - 1e-5)
    assert q.mean() > lin.mean()


@pytest.mark.parametrize("name", ["pygm_rrwm", "pygm_ipfp", "pygm_sm"])
def test_pygmtools_solvers_return_permutations_and_solve_easy_instances(name):
    cv, ce, es, et = _instances(4, 6, 2, seed=6, diag_boost=6.0)
    x = build_solver(name)(cv, 0.05 * ce, es, et)
    assert torch.equal(x, torch.eye(6).expand(4, 6, 6))


def test_lpmp_adapter_explains_how_to_get_lpmp():
    with pytest.raises(ImportError, match="lpmp_py"):
        build_solver("lpmp")


def test_unknown_solver_is_named():
    with pytest.raises(ValueError, match="unknown solver 'foo'"):
        build_solver("foo")
