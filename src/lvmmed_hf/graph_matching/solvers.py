"""Batched graph-matching solvers: linear assignment, quadratic assignment, brute force, adapters.

The problem (LVM-Med Eq. 4) in affinity form, for each of ``G`` graph pairs with ``n`` nodes:

    maximise over permutation matrices x:
        sum_{i,a} c^v[i,a] x[i,a] + sum_{(i,j) in E_s, (a,b) in E_t} c^e[(i,j),(a,b)] x[i,a] x[j,b]

(the paper writes the same problem as a minimisation of the negated affinities). A solver is any
callable ``solver(cv, ce, edges_s, edges_t) -> x`` with ``cv: (G, n, n)``, ``ce: (G, E_s, E_t)``
or ``None`` (first order), ``edges_*: (G, E, 2)`` long, returning ``x: (G, n, n)`` 0/1
permutation matrices (float, same device as ``cv``). Solvers run under ``torch.no_grad``.

Host synchronisation: the solvers of this module that run on the device (``quadratic``, ``linear``
with the ``torch`` assignment) have a sync-free mode (``sync_free=True``, the default on any
device other than the CPU): fixed iteration counts instead of early stops, no value checks that
read a device tensor on the host, no ``one_hot`` (whose CPU checks read the tensor). scipy, LPMP
and pygmtools work on the host and copy the costs there.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

logger = logging.getLogger(__name__)


class SolverError(RuntimeError):
    """A graph-matching solver failed or returned something that is not a permutation."""


class GraphMatchingSolver(Protocol):
    def __call__(
        self,
        cv: torch.Tensor,
        ce: torch.Tensor | None,
        edges_s: torch.Tensor | None,
        edges_t: torch.Tensor | None,
    ) -> torch.Tensor: ...


# --------------------------------------------------------------------------------------------
# Objective helpers
# --------------------------------------------------------------------------------------------


def pair_indicators(x: torch.Tensor, edges_s: torch.Tensor, edges_t: torch.Tensor) -> torch.Tensor:
    """``y[g, e, f] = x[g, i, a] * x[g, j, b]`` for ``e = (i, j)``, ``f = (a, b)``: ``(G, E_s, E_t)``.

    The "paid" quadratic terms of a matching ``x: (G, n, n)``.
    """
    g = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
    first = x[g, edges_s[:, :, 0].unsqueeze(2), edges_t[:, :, 0].unsqueeze(1)]
    second = x[g, edges_s[:, :, 1].unsqueeze(2), edges_t[:, :, 1].unsqueeze(1)]
    return first * second


def qap_objective(
    x: torch.Tensor,
    cv: torch.Tensor,
    ce: torch.Tensor | None = None,
    edges_s: torch.Tensor | None = None,
    edges_t: torch.Tensor | None = None,
) -> torch.Tensor:
    """Affinity of matchings ``x`` (Eq. 4, maximisation form): ``(G,)``."""
    value = (cv * x).sum((1, 2))
    if ce is not None:
        value = value + (ce * pair_indicators(x, edges_s, edges_t)).sum((1, 2))
    return value


def lawler_matrix(
    cv: torch.Tensor, ce: torch.Tensor | None, edges_s: torch.Tensor | None, edges_t: torch.Tensor | None
) -> torch.Tensor:
    """Symmetric Lawler affinity ``K: (G, n*n, n*n)`` with ``vec(x)^T K vec(x)`` = Eq. 4 objective.

    Row index of the assignment ``(i, a)`` is ``i * n + a``. The diagonal holds ``c^v`` (valid
    because ``x[i,a]^2 = x[i,a]`` for 0/1 ``x``); each edge pair adds half its affinity to the
    two symmetric entries.
    """
    num_graphs, n, _ = cv.shape
    big = n * n
    k = torch.zeros(num_graphs, big, big, dtype=cv.dtype, device=cv.device)
    k.diagonal(dim1=1, dim2=2).copy_(cv.reshape(num_graphs, big))
    if ce is not None:
        row = edges_s[:, :, 0].unsqueeze(2) * n + edges_t[:, :, 0].unsqueeze(1)  # (G, Es, Et): (i, a)
        col = edges_s[:, :, 1].unsqueeze(2) * n + edges_t[:, :, 1].unsqueeze(1)  # (j, b)
        flat = k.view(num_graphs, -1)
        half = 0.5 * ce.reshape(num_graphs, -1)
        flat.scatter_add_(1, (row * big + col).reshape(num_graphs, -1), half)
        flat.scatter_add_(1, (col * big + row).reshape(num_graphs, -1), half)
    return k


def validate_permutations(x: torch.Tensor, shape: tuple[int, ...], name: str = "solver") -> None:
    """Raise ``SolverError`` unless ``x`` is a batch of 0/1 permutation matrices of ``shape``."""
    if tuple(x.shape) != tuple(shape):
        raise SolverError(f"{name} returned shape {tuple(x.shape)}, expected {tuple(shape)}")
    if not torch.isfinite(x).all():
        raise SolverError(f"{name} returned non-finite values")
    binary = (x == 0) | (x == 1)
    if not binary.all() or not (x.sum(-1) == 1).all() or not (x.sum(-2) == 1).all():
        raise SolverError(f"{name} did not return permutation matrices (rows and columns must sum to 1)")


def _check_costs(cv: torch.Tensor, ce: torch.Tensor | None, check_values: bool = True) -> None:
    """Shape checks always; value (finiteness) checks, which read the device, if ``check_values``."""
    if cv.dim() != 3 or cv.shape[1] != cv.shape[2]:
        raise ValueError(f"cv must have shape (G, n, n), got {tuple(cv.shape)}")
    if not check_values:
        return
    if not torch.isfinite(cv).all():
        raise ValueError("vertex affinities cv contain NaN or inf (check the features for NaN)")
    if ce is not None and not torch.isfinite(ce).all():
        raise ValueError("edge affinities ce contain NaN or inf (check the features for NaN)")


def _perm_to_matrix(perm: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """``(..., n)`` permutations -> ``(..., n, n)`` 0/1 matrices, without ``one_hot`` (whose CPU
    implementation reads the index range on the host)."""
    return (perm.unsqueeze(-1) == torch.arange(n, device=perm.device)).to(dtype)


def resolve_sync_free(sync_free: bool | None, device: torch.device) -> bool:
    """``None`` means: sync-free on every device except the CPU (where a host read is free)."""
    return device.type != "cpu" if sync_free is None else bool(sync_free)


def resolve_lap_backend(backend: str, device: torch.device, sync_free: bool | None = None) -> str:
    """``"auto"``: the batched device Hungarian in the sync-free mode (by default: on every device
    but the CPU), scipy otherwise (one host copy, one C call)."""
    if backend == "auto":
        return "torch" if resolve_sync_free(sync_free, device) else "scipy"
    return backend


# --------------------------------------------------------------------------------------------
# Linear assignment (exact)
# --------------------------------------------------------------------------------------------


def _lap_scipy(scores: torch.Tensor) -> torch.Tensor:
    """Exact max-weight assignment of every graph with ONE host copy and ONE C call per batch.

    The G problems are laid out as one block-diagonal sparse bipartite graph and solved by
    scipy's LAPJVsp (``min_weight_full_bipartite_matching``): no Python loop over graphs. For
    n = 16 this costs a few microseconds per graph, less than the O(n^2) sequential kernel
    launches a GPU Hungarian needs; the copy is one small ``(G, n, n)`` tensor.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    num_graphs, n, _ = scores.shape
    s = scores.detach().to("cpu", torch.float64).numpy()
    # Per-graph shift keeps every weight strictly positive (explicit zeros could be dropped as
    # non-edges) and does not change a graph's optimum: every assignment has n terms.
    w = s.max(axis=(1, 2), keepdims=True) - s + 1.0
    base = np.arange(num_graphs)[:, None, None] * n
    rows = np.broadcast_to(base + np.arange(n)[None, :, None], w.shape).ravel()
    cols = np.broadcast_to(base + np.arange(n)[None, None, :], w.shape).ravel()
    graph = sp.csr_array((w.ravel(), (rows, cols)), shape=(num_graphs * n, num_graphs * n))
    try:
        _, col_of_row = min_weight_full_bipartite_matching(graph)
    except ValueError as err:  # pragma: no cover - only for non-finite input, checked earlier
        raise SolverError(f"linear assignment failed: {err}") from err
    perm = torch.from_numpy(col_of_row.reshape(num_graphs, n) - base[:, :, 0]).to(scores.device)
    return perm


def _lap_torch(scores: torch.Tensor) -> torch.Tensor:
    """Exact max-weight assignment on the device: the shortest-augmenting-path Hungarian
    algorithm (Kuhn-Munkres with potentials, O(n^3)) vectorised over the batch.

    Loops run a fixed number of masked steps (at most ``i + 1`` per row ``i``), so there is no
    host synchronisation; it is latency-bound (about ``n^2`` small kernels) and meant for
    devices where a host copy is costly. Returns ``perm: (G, n)`` with ``perm[g, i] = a``.
    """
    num_graphs, n, _ = scores.shape
    device = scores.device
    cost = torch.zeros(num_graphs, n + 1, n + 1, dtype=torch.float64, device=device)
    cost[:, 1:, 1:] = -scores.detach().to(torch.float64)
    inf = torch.tensor(float("inf"), dtype=torch.float64, device=device)
    u = torch.zeros(num_graphs, n + 1, dtype=torch.float64, device=device)
    v = torch.zeros_like(u)
    p = torch.zeros(num_graphs, n + 1, dtype=torch.long, device=device)  # p[j]: row on column j
    way = torch.zeros_like(p)
    ar = torch.arange(num_graphs, device=device)
    for i in range(1, n + 1):
        p[:, 0] = i
        j0 = torch.zeros(num_graphs, dtype=torch.long, device=device)
        minv = torch.full((num_graphs, n + 1), float("inf"), dtype=torch.float64, device=device)
        used = torch.zeros(num_graphs, n + 1, dtype=torch.bool, device=device)
        active = torch.ones(num_graphs, dtype=torch.bool, device=device)
        for _ in range(i + 1):
            used[ar, j0] = used[ar, j0] | active
            i0 = p[ar, j0]
            cur = cost[ar, i0] - u[ar, i0].unsqueeze(1) - v
            upd = active.unsqueeze(1) & ~used & (cur < minv)
            minv = torch.where(upd, cur, minv)
            way = torch.where(upd, j0.unsqueeze(1), way)
            cand = torch.where(used, inf, minv)
            cand[:, 0] = inf
            delta, j1 = cand.min(1)
            delta = torch.where(active, delta, torch.zeros_like(delta))
            used_act = used & active.unsqueeze(1)
            shift = torch.where(used_act, delta.unsqueeze(1), torch.zeros_like(minv))
            u = u.scatter_add(1, p, shift)
            v = v - shift
            minv = minv - torch.where(~used & active.unsqueeze(1), delta.unsqueeze(1), torch.zeros_like(minv))
            j0 = torch.where(active, j1, j0)
            active = active & (p[ar, j0] != 0)
        active = torch.ones(num_graphs, dtype=torch.bool, device=device)
        for _ in range(i + 1):
            j1 = way[ar, j0]
            p[ar, j0] = torch.where(active, p[ar, j1], p[ar, j0])
            j0 = torch.where(active, j1, j0)
            active = active & (j0 != 0)
    perm = torch.empty(num_graphs, n, dtype=torch.long, device=device)
    perm.scatter_(1, p[:, 1:] - 1, torch.arange(n, device=device).expand(num_graphs, n))
    return perm


LAP_BACKENDS = ("auto", "scipy", "torch")


def greedy_assignment(scores: torch.Tensor) -> torch.Tensor:
    """Greedy max-score assignment ``(G, n, n) -> (G, n)``: n times, take the largest remaining
    entry and strike its row and column. Not exact; about 8 n small ops with no host read (the
    exact device Hungarian needs about 30 n^2), used for the local search's starts."""
    num_graphs, n, _ = scores.shape
    ar = torch.arange(n, device=scores.device)
    s = scores.detach().float().clone()
    perm = torch.zeros(num_graphs, n, dtype=torch.long, device=scores.device)
    for _ in range(n):
        flat = s.reshape(num_graphs, -1).argmax(1)
        r, c = flat // n, flat % n
        perm = perm.scatter(1, r.unsqueeze(1), c.unsqueeze(1))
        struck = (ar.view(1, n, 1) == r.view(-1, 1, 1)) | (ar.view(1, 1, n) == c.view(-1, 1, 1))
        s = s.masked_fill(struck, float("-inf"))
    return perm


def linear_assignment(scores: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """Exact maximum-score assignment of each graph: ``(G, n, n) -> (G, n)`` permutation.

    backend: ``"scipy"`` (one host copy per batch, one C call), ``"torch"`` (on the device, no
    host synchronisation) or ``"auto"`` (scipy on the CPU, torch elsewhere).
    """
    backend = resolve_lap_backend(backend, scores.device)
    if backend == "scipy":
        return _lap_scipy(scores)
    if backend == "torch":
        return _lap_torch(scores)
    raise ValueError(f"unknown linear-assignment backend {backend!r}; expected one of {LAP_BACKENDS}")


class LinearAssignmentSolver:
    """Exact solver of the first-order problem (``ce`` ignored): the "w/o second-order" ablation.

    ``check_inputs=False`` skips the finiteness check (a host read; the loss checks its inputs in
    its own way, see ``GraphMatchingLoss``). ``sync_free`` selects the ``"auto"`` backend (see
    :func:`resolve_lap_backend`)."""

    def __init__(
        self, backend: str = "auto", check_inputs: bool = True, sync_free: bool | None = None
    ) -> None:
        if backend not in LAP_BACKENDS:
            raise ValueError(f"unknown linear-assignment backend {backend!r}; expected one of {LAP_BACKENDS}")
        self.backend = backend
        self.check_inputs = check_inputs
        self.sync_free = sync_free

    @torch.no_grad()
    def __call__(self, cv, ce=None, edges_s=None, edges_t=None) -> torch.Tensor:
        _check_costs(cv, None, self.check_inputs)
        perm = linear_assignment(cv, resolve_lap_backend(self.backend, cv.device, self.sync_free))
        return _perm_to_matrix(perm, cv.shape[-1], cv.dtype)


# --------------------------------------------------------------------------------------------
# Quadratic assignment
# --------------------------------------------------------------------------------------------


def _log_sinkhorn(log_x: torch.Tensor, iterations: int, floor: float = -60.0) -> torch.Tensor:
    """Sinkhorn normalisation in the log domain. Log values are kept above ``floor`` relative to
    the row maximum: ``exp`` of very negative numbers yields subnormal floats, which x86 CPUs
    process about 100 times slower (measured: 80% of the solver's CPU time before this floor);
    entries below ``exp(-60)`` are zero for every purpose here."""
    log_x = (log_x - log_x.amax(-1, keepdim=True)).clamp_min(floor)
    for _ in range(iterations):
        log_x = (log_x - log_x.logsumexp(-1, keepdim=True)).clamp_min(floor)
        log_x = (log_x - log_x.logsumexp(-2, keepdim=True)).clamp_min(floor)
    return log_x.exp()


def _matching_lawler(k: torch.Tensor, n: int) -> torch.Tensor:
    """``K`` with the entries no permutation can pay set to zero: ``K[(i,a),(j,b)]`` with ``i = j``
    xor ``a = b`` (``x[i,a] x[i,b] = 0`` for ``a != b``). The objective of every permutation is
    unchanged, and a swap's change of objective then needs two entries of K instead of sixteen."""
    num_graphs, big, _ = k.shape
    ar = torch.arange(n, device=k.device)
    same_row = ar.view(n, 1, 1, 1) == ar.view(1, 1, n, 1)
    same_col = ar.view(1, n, 1, 1) == ar.view(1, 1, 1, n)
    return k.view(num_graphs, n, n, n, n).masked_fill(same_row != same_col, 0.0).view(num_graphs, big, big)


def two_opt(
    k: torch.Tensor, perm: torch.Tensor, max_iterations: int, early_stop: bool = True, tol: float = 1e-6
) -> torch.Tensor:
    """Best-improvement pairwise-swap local search on ``vec(x)^T K vec(x)``, batched over graphs and
    over several starts per graph.

    ``k: (G, n*n, n*n)`` symmetric Lawler matrix, ``perm: (G, n)`` or ``(G, M, n)`` (M starts per
    graph, all sharing the graph's K). Every iteration evaluates the change of objective of all
    ``n (n - 1) / 2`` swaps of two rows' assignments of every start at once, as ``(n, n)`` tensors:
    for rows ``r, s`` with ``a = p_r, b = p_s`` and ``d = e_rb + e_sa - e_ra - e_sb``,
    ``f(x + d) - f(x) = 2 d^T K x + d^T K d``, where ``K x`` is kept up to date by adding four rows
    of K per applied swap (no matrix product per iteration), and ``d^T K d`` reduces to the four
    unary terms and ``2 K[ra, sb] + 2 K[rb, sa]`` (see :func:`_matching_lawler`). The best swap of
    each start is applied where it improves by more than ``tol`` (relative to the largest ``|K|``).

    ``early_stop``: stop when no start improves; this reads a device flag on the host once per
    iteration, so the sync-free mode runs the fixed ``max_iterations`` instead (a converged start
    is left unchanged by the extra iterations).
    """
    squeeze = perm.dim() == 2
    if squeeze:
        perm = perm.unsqueeze(1)
    num_graphs, starts, n = perm.shape
    big = n * n
    device = perm.device
    k = _matching_lawler(k, n)
    unary = k.diagonal(dim1=1, dim2=2).reshape(num_graphs, 1, n, n).expand(num_graphs, starts, n, n)
    k_flat = k.reshape(num_graphs, 1, big * big).expand(num_graphs, starts, big * big)
    k_rows = k.unsqueeze(1).expand(num_graphs, starts, big, big)
    ar = torch.arange(n, device=device)
    upper = ar.view(n, 1) < ar.view(1, n)
    row_base = (ar * n).view(1, 1, n, 1)
    signs = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=k.dtype, device=device)
    threshold = (tol * (1 + k.abs().amax((1, 2)))).view(num_graphs, 1)
    x = _perm_to_matrix(perm, n, k.dtype).reshape(num_graphs, starts, big)
    kx = torch.bmm(x, k).view(num_graphs, starts, n, n)  # (K x)[(i, a)]
    for _ in range(max_iterations):
        p_col = perm.unsqueeze(2).expand(num_graphs, starts, n, n)  # [r, s] -> p_s
        p_row = perm.unsqueeze(3).expand(num_graphs, starts, n, n)  # [r, s] -> p_r
        b = kx.gather(3, p_col)  # (K x)[(r, p_s)]
        b_diag = b.diagonal(dim1=2, dim2=3)  # (K x)[(r, p_r)]
        u = unary.gather(3, p_col)  # c^v[r, p_s]
        u_diag = u.diagonal(dim1=2, dim2=3)
        ra = row_base + p_row  # index of (r, p_r)
        rb = row_base + p_col  # (r, p_s)
        sb, sa = ra.transpose(2, 3), rb.transpose(2, 3)  # (s, p_s), (s, p_r)
        k1 = k_flat.gather(2, (ra * big + sb).reshape(num_graphs, starts, big)).view_as(b)
        k2 = k_flat.gather(2, (rb * big + sa).reshape(num_graphs, starts, big)).view_as(b)
        delta = (
            2 * (b + b.transpose(2, 3) - b_diag.unsqueeze(3) - b_diag.unsqueeze(2))
            + u
            + u.transpose(2, 3)
            + u_diag.unsqueeze(3)
            + u_diag.unsqueeze(2)
            + 2 * (k1 + k2)
        )
        delta = delta.masked_fill(~upper, float("-inf"))
        best, which = delta.view(num_graphs, starts, big).max(-1)
        improve = best > threshold
        if early_stop and not bool(improve.any()):
            break
        r, s = which // n, which % n
        p_r = perm.gather(2, r.unsqueeze(-1)).squeeze(-1)
        p_s = perm.gather(2, s.unsqueeze(-1)).squeeze(-1)
        changed = torch.stack([r * n + p_s, s * n + p_r, r * n + p_r, s * n + p_s], -1)  # (G, M, 4)
        coef = signs * improve.unsqueeze(-1).to(k.dtype)
        rows = k_rows.gather(2, changed.unsqueeze(-1).expand(num_graphs, starts, 4, big))
        kx = kx + (rows * coef.unsqueeze(-1)).sum(2).view_as(kx)
        swapped = perm.scatter(2, r.unsqueeze(-1), p_s.unsqueeze(-1)).scatter(
            2, s.unsqueeze(-1), p_r.unsqueeze(-1)
        )
        perm = torch.where(improve.unsqueeze(-1), swapped, perm)
    return perm.squeeze(1) if squeeze else perm


def _lawler_values(k: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """``vec(x)^T K vec(x)`` of ``perm: (G, M, n)`` -> ``(G, M)``."""
    num_graphs, starts, n = perm.shape
    x = _perm_to_matrix(perm, n, k.dtype).reshape(num_graphs, starts, n * n)
    return (torch.bmm(x, k) * x).sum(-1)


def _best_start(k: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best of the M starts of every graph: ``(G, n)`` permutation and ``(G,)`` value."""
    values = _lawler_values(k, perm)
    value, index = values.max(1)
    n = perm.shape[-1]
    return perm.gather(1, index.view(-1, 1, 1).expand(-1, 1, n)).squeeze(1), value


def _random_swaps(perm: torch.Tensor, swaps: int, generator: torch.Generator | None) -> torch.Tensor:
    """Apply ``swaps`` random transpositions to every permutation of ``perm: (G, M, n)``."""
    num_graphs, starts, n = perm.shape
    for _ in range(swaps):
        i = torch.randint(n, (num_graphs, starts, 1), device=perm.device, generator=generator)
        j = torch.randint(n, (num_graphs, starts, 1), device=perm.device, generator=generator)
        pi, pj = perm.gather(2, i), perm.gather(2, j)
        perm = perm.scatter(2, i, pj).scatter(2, j, pi)
    return perm


class QuadraticSolver:
    """Batched approximate solver of Eq. 4 on the device: multi-start, iterated pairwise-swap search.

    1. Starts: graduated assignment (Gold & Rangarajan, 1996: soft-assign iterations
       ``x <- Sinkhorn(beta * K x)`` with an increasing inverse temperature ``beta``; works with
       affinities of either sign, unlike RRWM / spectral matching, which assume ``K >= 0``),
       projected to a permutation; the projection of the unary affinities (first-order start);
       and ``restarts`` random permutations. ``projection="greedy"`` (default,
       :func:`greedy_assignment`, about 130 small ops) or ``"exact"`` (:func:`linear_assignment`
       with ``lap_backend``; on a device the exact Hungarian is about 7,600 small ops per call):
       on 64 Gumbel-perturbed n = 16 graphs both gave the same final objectives.
    2. Pairwise-swap local search (:func:`two_opt`) from every start at once.
    3. ``rounds`` of iterated local search: ``restarts + 2`` copies of each graph's best matching,
       each disturbed by ``kick`` random swaps, searched again; the best matching so far is kept.

    Everything is batched over graphs and starts (no Python loop over graphs, no host read in the
    sync-free mode). Random starts and kicks come from a generator seeded with ``seed`` at every
    call: the solver is a deterministic function of its input (the blackbox gradient's backward
    solve and a resumed run see the same solver). Quality and speed: docs/pretraining.md
    (bench/bench_graph_matching.py); restarts=0, rounds=0 is the former single-start solver.
    """

    def __init__(
        self,
        betas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
        inner_iterations: int = 4,
        sinkhorn_iterations: int = 10,
        local_search_iterations: int | None = None,
        lap_backend: str = "auto",
        restarts: int = 30,
        rounds: int = 2,
        kick: int = 4,
        seed: int = 0,
        projection: str = "greedy",
        sync_free: bool | None = None,
        check_inputs: bool = True,
    ) -> None:
        if projection not in ("greedy", "exact"):
            raise ValueError(f"projection must be 'greedy' or 'exact', got {projection!r}")
        self.projection = projection
        if lap_backend not in LAP_BACKENDS:
            raise ValueError(
                f"unknown linear-assignment backend {lap_backend!r}; expected one of {LAP_BACKENDS}"
            )
        for name, value in (("restarts", restarts), ("rounds", rounds), ("kick", kick)):
            if value < 0:
                raise ValueError(f"QuadraticSolver {name} must be >= 0, got {value}")
        if local_search_iterations is not None and local_search_iterations < 0:
            raise ValueError(f"local_search_iterations must be >= 0 or None, got {local_search_iterations}")
        self.betas = tuple(betas)
        self.inner_iterations = inner_iterations
        self.sinkhorn_iterations = sinkhorn_iterations
        self.local_search_iterations = local_search_iterations
        self.lap_backend = lap_backend
        self.restarts = restarts
        self.rounds = rounds
        self.kick = kick
        self.seed = seed
        self.sync_free = sync_free
        self.check_inputs = check_inputs
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator | None:
        if device.type == "meta":  # shape-only tensors (tests of the sync-free path): no generator
            return None
        gen = self._generators.get(device)
        if gen is None:
            gen = self._generators[device] = torch.Generator(device=device)
        return gen.manual_seed(self.seed)

    @torch.no_grad()
    def __call__(self, cv, ce, edges_s, edges_t) -> torch.Tensor:
        _check_costs(cv, ce, self.check_inputs)
        num_graphs, n, _ = cv.shape
        sync_free = resolve_sync_free(self.sync_free, cv.device)
        work = cv.float()
        k = lawler_matrix(work, None if ce is None else ce.float(), edges_s, edges_t)
        x = torch.full_like(work, 1.0 / n)
        for beta in self.betas:
            for _ in range(self.inner_iterations):
                q = (k @ x.reshape(num_graphs, -1, 1)).view(num_graphs, n, n)
                q = q / q.abs().amax((1, 2), keepdim=True).clamp_min(1e-12)
                x = _log_sinkhorn(beta * q, self.sinkhorn_iterations)
        if self.projection == "greedy":
            starts = [greedy_assignment(x), greedy_assignment(work)]
        else:
            backend = resolve_lap_backend(self.lap_backend, cv.device, sync_free)
            starts = [linear_assignment(x, backend), linear_assignment(work, backend)]
        generator = self._generator(cv.device) if (self.restarts or self.rounds) else None
        if self.restarts:
            noise = torch.rand(num_graphs, self.restarts, n, device=cv.device, generator=generator)
            starts_perm = torch.cat([torch.stack(starts, 1), noise.argsort(-1)], 1)
        else:
            starts_perm = torch.stack(starts, 1)
        iterations = self.local_search_iterations if self.local_search_iterations is not None else 2 * n
        perms = two_opt(k, starts_perm, iterations, early_stop=not sync_free)
        best, best_value = _best_start(k, perms)
        copies = starts_perm.shape[1]
        for _ in range(self.rounds):
            kicked = _random_swaps(best.unsqueeze(1).expand(num_graphs, copies, n), self.kick, generator)
            perms = two_opt(k, kicked, max(iterations // 2, 1), early_stop=not sync_free)
            candidate, value = _best_start(k, perms)
            better = value > best_value
            best = torch.where(better.unsqueeze(1), candidate, best)
            best_value = torch.maximum(best_value, value)
        return _perm_to_matrix(best, n, cv.dtype)


class BruteForceSolver:
    """Exact solver by enumeration of all ``n!`` permutations (``n <= 8``); for tests."""

    def __init__(self, max_nodes: int = 8) -> None:
        self.max_nodes = max_nodes

    @torch.no_grad()
    def __call__(self, cv, ce, edges_s, edges_t) -> torch.Tensor:
        _check_costs(cv, ce)
        num_graphs, n, _ = cv.shape
        if n > self.max_nodes:
            raise ValueError(f"brute force enumerates n! permutations; n={n} > max_nodes={self.max_nodes}")
        perms = torch.tensor(list(itertools.permutations(range(n))), device=cv.device)  # (P, n)
        xs = _perm_to_matrix(perms, n, torch.float64).reshape(len(perms), n * n)
        k = lawler_matrix(cv.double(), None if ce is None else ce.double(), edges_s, edges_t)
        values = torch.einsum("pn,gnm,pm->gp", xs, k, xs)
        best = values.argmax(1)
        return _perm_to_matrix(perms[best], n, cv.dtype)


# --------------------------------------------------------------------------------------------
# Optional third-party solvers
# --------------------------------------------------------------------------------------------


class PygmtoolsSolver:
    """pygmtools' quadratic solvers (``"rrwm"``, ``"ipfp"``, ``"sm"``) on our Lawler matrix,
    projected exactly with :func:`linear_assignment`. Optional extra ``lvmmed-hf[solvers]``.

    RRWM and spectral matching assume non-negative affinities: ``K`` is shifted by its minimum
    (a constant added to every entry of ``K`` adds the same ``n^2`` times it to every permutation's
    objective, so the optimum over permutations does not move).
    """

    def __init__(self, method: str = "rrwm", lap_backend: str = "auto", **kwargs) -> None:
        try:
            import pygmtools  # noqa: F401
        except ImportError as err:
            raise ImportError(
                f"solver 'pygm_{method}' needs pygmtools: pip install 'lvmmed-hf[solvers]'"
            ) from err
        if method not in ("rrwm", "ipfp", "sm"):
            raise ValueError(f"unknown pygmtools method {method!r}; expected 'rrwm', 'ipfp' or 'sm'")
        self.method = method
        self.lap_backend = lap_backend
        self.kwargs = kwargs

    @torch.no_grad()
    def __call__(self, cv, ce, edges_s, edges_t) -> torch.Tensor:
        import pygmtools

        _check_costs(cv, ce)
        num_graphs, n, _ = cv.shape
        k = lawler_matrix(cv.float(), None if ce is None else ce.float(), edges_s, edges_t)
        if self.method in ("rrwm", "sm"):
            k = k - k.amin((1, 2), keepdim=True)
        # pygmtools vectorises x column-major (index a * n + i): reorder our row-major K.
        k = k.view(num_graphs, n, n, n, n).permute(0, 2, 1, 4, 3).reshape(num_graphs, n * n, n * n)
        solve = getattr(pygmtools.classic_solvers, self.method)
        sizes = torch.full((num_graphs,), n, dtype=torch.long, device=k.device)
        soft = solve(k, sizes, sizes, backend="pytorch", **self.kwargs)
        perm = linear_assignment(soft.reshape(num_graphs, n, n), self.lap_backend)
        return _perm_to_matrix(perm, n, cv.dtype)


# LPMP's label of an unmatched vertex: ``linear_assignment_problem_input::no_assignment =
# std::numeric_limits<std::size_t>::max()`` (LPMP include/graph_matching/matching_problem_input.h),
# which its pybind11 bindings return as the Python int 2**64 - 1.
LPMP_NO_ASSIGNMENT = 2**64 - 1


def lpmp_labeling_to_matrix(labels, num_right: int) -> np.ndarray:
    """LPMP labeling (right vertex of every left vertex, ``LPMP_NO_ASSIGNMENT`` for an unmatched
    one; -1 is accepted too) -> ``(num_left, num_right)`` 0/1 assignment mask, as LPMP's
    ``result_masks`` builds it (an unmatched vertex gives an all-zero row)."""
    labels = [int(v) for v in labels]
    mask = np.zeros((len(labels), num_right), dtype=np.float64)
    for i, label in enumerate(labels):
        if label in (LPMP_NO_ASSIGNMENT, -1):
            continue
        if not 0 <= label < num_right:
            raise SolverError(
                f"LPMP labeling: left vertex {i} has label {label}, expected 0..{num_right - 1} or "
                f"no_assignment ({LPMP_NO_ASSIGNMENT})"
            )
        mask[i, label] = 1.0
    return mask


def complete_partial_matching(mask, scores) -> np.ndarray:
    """Complete a partial matching to a permutation matrix.

    ``mask``: ``(n, n)`` 0/1 with at most one 1 per row and per column (LPMP's assignment mask; the
    rows and columns of unmatched vertices are zero). The unmatched rows are assigned to the
    unmatched columns by the exact linear assignment (Hungarian method, scipy) that maximises the
    unary affinities ``scores[i, a]`` of the new pairs; matched pairs are kept. Raises
    ``SolverError`` for anything that is not a partial matching.
    """
    from scipy.optimize import linear_sum_assignment

    m = np.asarray(mask, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or s.shape != m.shape:
        raise SolverError(f"partial matching must be square like the scores, got {m.shape} and {s.shape}")
    if not np.all((m == 0) | (m == 1)):
        raise SolverError("partial matching must hold only 0 and 1")
    if (m.sum(1) > 1).any() or (m.sum(0) > 1).any():
        raise SolverError("partial matching assigns a vertex twice (a row or column sums to more than 1)")
    free_rows = np.flatnonzero(m.sum(1) == 0)
    free_cols = np.flatnonzero(m.sum(0) == 0)
    out = m.copy()
    if len(free_rows):
        r, c = linear_sum_assignment(s[np.ix_(free_rows, free_cols)], maximize=True)
        out[free_rows[r], free_cols[c]] = 1.0
    return out


def _import_lpmp_gm_solver():
    """LPMP's ``raw_solvers.gm_solver``: package ``lpmp_py`` (older LPMP, used by BB-GM) or
    ``lpmp_gm`` (LPMP's setup.py today)."""
    for package in ("lpmp_py", "lpmp_gm"):
        try:
            module = __import__(f"{package}.raw_solvers", fromlist=["gm_solver"])
        except ImportError:
            continue
        return module.gm_solver
    raise ImportError(
        "solver 'lpmp' needs LPMP's Python bindings (package lpmp_py or lpmp_gm), which are not on a "
        "package registry: build them from https://github.com/LPMP/LPMP, or use solver='quadratic'"
    )


class LpmpSolver:
    """Adapter to LPMP's dual-decomposition graph-matching solver (Swoboda et al., CVPR 2017), the
    solver the paper used, through its Python bindings (built from source, not on PyPI).

    LPMP is a sequential C++ CPU solver: this adapter copies the batch to the host once and solves
    graph by graph there. It minimises costs, so affinities are negated. LPMP's ``gm_solver``
    returns ``(assignment mask, paid quadratic terms mask)``; its labeling may leave vertices
    unmatched (``no_assignment``, an all-zero row of the mask): such partial matchings are
    completed by :func:`complete_partial_matching` (Hungarian method on the unary affinities of
    the unmatched vertices), so the loss always gets a permutation.
    """

    def __init__(self, solver_params: dict | None = None) -> None:
        self._gm_solver = _import_lpmp_gm_solver()
        self.solver_params = solver_params or {
            "timeout": 1000,
            "primalComputationInterval": 10,
            "maxIter": 100,
        }

    @staticmethod
    def to_permutation(result, scores) -> np.ndarray:
        """One graph's LPMP output (``(mask, quadratic mask)``, a mask, or a labeling) -> a full
        ``(n, n)`` permutation matrix (partial matchings completed, see the class docstring)."""
        s = np.asarray(scores, dtype=np.float64)
        out = result[0] if isinstance(result, tuple) else result
        out = np.asarray(out)
        if out.ndim == 1:
            out = lpmp_labeling_to_matrix(out.tolist(), s.shape[1])
        return complete_partial_matching(out, s)

    @torch.no_grad()
    def __call__(self, cv, ce, edges_s, edges_t) -> torch.Tensor:
        _check_costs(cv, ce)
        num_graphs, n, _ = cv.shape
        scores = cv.detach().double().cpu().numpy()
        qcosts = None if ce is None else (-ce).detach().double().cpu().numpy()
        es = None if edges_s is None else edges_s.cpu().numpy()
        et = None if edges_t is None else edges_t.cpu().numpy()
        out = []
        for g in range(num_graphs):
            result = self._gm_solver(
                -scores[g],
                np.zeros((0, 0)) if qcosts is None else qcosts[g],
                np.zeros((0, 2), dtype=np.intc) if es is None else es[g],
                np.zeros((0, 2), dtype=np.intc) if et is None else et[g],
                self.solver_params,
            )
            out.append(self.to_permutation(result, scores[g]))
        return torch.from_numpy(np.stack(out)).to(device=cv.device, dtype=cv.dtype)


SOLVERS: dict[str, Callable[..., GraphMatchingSolver]] = {
    "quadratic": QuadraticSolver,
    "linear": LinearAssignmentSolver,
    "brute_force": BruteForceSolver,
    "lpmp": LpmpSolver,
    "pygm_rrwm": lambda **kw: PygmtoolsSolver("rrwm", **kw),
    "pygm_ipfp": lambda **kw: PygmtoolsSolver("ipfp", **kw),
    "pygm_sm": lambda **kw: PygmtoolsSolver("sm", **kw),
}


def build_solver(name: str, **kwargs) -> GraphMatchingSolver:
    """Solver by name: one of ``SOLVERS`` (``quadratic``, ``linear``, ``brute_force``, ``lpmp``,
    ``pygm_rrwm``, ``pygm_ipfp``, ``pygm_sm``)."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; expected one of {sorted(SOLVERS)}")
    return SOLVERS[name](**kwargs)


def gumbel_noise(shape: torch.Size, scale: float, like: torch.Tensor, generator=None) -> torch.Tensor:
    """Gumbel(0, scale) samples ``-scale * log(-log U)``."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    tiny = torch.finfo(like.dtype).tiny
    neg_log_u = (-torch.log(u.clamp_min(tiny))).clamp_min(tiny)
    return -scale * torch.log(neg_log_u)


__all__ = [
    "SolverError",
    "GraphMatchingSolver",
    "pair_indicators",
    "qap_objective",
    "lawler_matrix",
    "validate_permutations",
    "linear_assignment",
    "greedy_assignment",
    "two_opt",
    "LinearAssignmentSolver",
    "QuadraticSolver",
    "BruteForceSolver",
    "PygmtoolsSolver",
    "LpmpSolver",
    "LPMP_NO_ASSIGNMENT",
    "lpmp_labeling_to_matrix",
    "complete_partial_matching",
    "resolve_sync_free",
    "resolve_lap_backend",
    "LAP_BACKENDS",
    "SOLVERS",
    "build_solver",
    "gumbel_noise",
]
