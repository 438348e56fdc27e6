"""Batched graph-matching solvers for LVM-Med Eq. 4 in affinity form (the paper minimises the
negated affinities): maximise ``sum c^v[i,a] x[i,a] + sum c^e[(i,j),(a,b)] x[i,a] x[j,b]`` over
permutations x. ``solver(cv, ce, edges_s, edges_t) -> x``: ``cv (G, n, n)``, ``ce (G, E_s, E_t)`` or
``None`` (first order), ``edges_* (G, E, 2)`` long, ``x (G, n, n)`` 0/1 on ``cv``'s device. The device
solvers have a sync-free mode (default off the CPU): fixed iteration counts, no host-side checks."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import itertools
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

LAP_BACKENDS = ("auto", "scipy", "torch")


class SolverError(RuntimeError):
    """A graph-matching solver failed or returned something that is not a permutation."""


#: ``solver(cv, ce, edges_s, edges_t) -> x`` (see the module docstring)
GraphMatchingSolver = Callable[
    [torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None], torch.Tensor
]


def _edge_pair_index(
    edges_s: torch.Tensor, edges_t: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices ``i * n + a`` and ``j * n + b`` of the edge pairs ``((i, j), (a, b))``."""
    first = edges_s[:, :, 0].unsqueeze(2) * n + edges_t[:, :, 0].unsqueeze(1)
    second = edges_s[:, :, 1].unsqueeze(2) * n + edges_t[:, :, 1].unsqueeze(1)
    return first, second


def pair_indicators(x: torch.Tensor, edges_s: torch.Tensor, edges_t: torch.Tensor) -> torch.Tensor:
    """The paid quadratic terms ``x[g, i, a] x[g, j, b]`` of matchings ``x``: ``(G, E_s, E_t)``."""
    flat = x.flatten(1)
    first, second = _edge_pair_index(edges_s, edges_t, x.shape[-1])
    return (flat.gather(1, first.flatten(1)) * flat.gather(1, second.flatten(1))).view_as(first)


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
    """Symmetric Lawler affinity ``K: (G, n*n, n*n)`` (row ``i * n + a``), ``vec(x)^T K vec(x)`` = Eq. 4;
    ``c^v`` on the diagonal (``x^2 = x``), half of each edge pair's affinity on both symmetric entries."""
    num_graphs, n, _ = cv.shape
    big = n * n
    k = torch.zeros(num_graphs, big, big, dtype=cv.dtype, device=cv.device)
    k.diagonal(dim1=1, dim2=2).copy_(cv.reshape(num_graphs, big))
    if ce is not None:
        row, col = _edge_pair_index(edges_s, edges_t, n)
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
    """Shape checks always; finiteness checks (a host read) if ``check_values``."""
    if cv.dim() != 3 or cv.shape[1] != cv.shape[2]:
        raise ValueError(f"cv must have shape (G, n, n), got {tuple(cv.shape)}")
    if check_values and not torch.isfinite(cv).all():
        raise ValueError("vertex affinities cv contain NaN or inf (check the features for NaN)")
    if check_values and ce is not None and not torch.isfinite(ce).all():
        raise ValueError("edge affinities ce contain NaN or inf (check the features for NaN)")


def _perm_to_matrix(perm: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """``(..., n)`` permutations -> ``(..., n, n)`` 0/1 matrices (no ``one_hot``: it reads the host)."""
    return (perm.unsqueeze(-1) == torch.arange(n, device=perm.device)).to(dtype)


def resolve_sync_free(sync_free: bool | None, device: torch.device) -> bool:
    """``None`` means: sync-free on every device except the CPU (where a host read is free)."""
    return device.type != "cpu" if sync_free is None else bool(sync_free)


def resolve_lap_backend(backend: str, device: torch.device, sync_free: bool | None = None) -> str:
    """``"auto"``: the device Hungarian in the sync-free mode, else scipy (one host copy)."""
    if backend == "auto":
        return "torch" if resolve_sync_free(sync_free, device) else "scipy"
    return backend


def _check_backend(backend: str) -> None:
    if backend not in LAP_BACKENDS:
        raise ValueError(f"unknown linear-assignment backend {backend!r}; expected one of {LAP_BACKENDS}")


def _lap_scipy(scores: torch.Tensor) -> torch.Tensor:
    """Exact max-weight assignment of all G graphs as one block-diagonal problem (one scipy call)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    num_graphs, n, _ = scores.shape
    s = scores.detach().to("cpu", torch.float64).numpy()
    # a per-graph shift: weights > 0 (a zero could be dropped as a non-edge), same optimum (n terms)
    w = s.max(axis=(1, 2), keepdims=True) - s + 1.0
    base = np.arange(num_graphs)[:, None, None] * n
    rows = np.broadcast_to(base + np.arange(n)[None, :, None], w.shape).ravel()
    cols = np.broadcast_to(base + np.arange(n)[None, None, :], w.shape).ravel()
    graph = sp.csr_array((w.ravel(), (rows, cols)), shape=(num_graphs * n, num_graphs * n))
    try:
        _, col_of_row = min_weight_full_bipartite_matching(graph)
    except ValueError as err:  # pragma: no cover - only for non-finite input, checked earlier
        raise SolverError(f"linear assignment failed: {err}") from err
    return torch.from_numpy(col_of_row.reshape(num_graphs, n) - base[:, :, 0]).to(scores.device)


def _lap_torch(scores: torch.Tensor) -> torch.Tensor:
    """Exact max-weight assignment on the device (batched Hungarian, fixed loop counts): ``(G, n)``."""
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


def greedy_assignment(scores: torch.Tensor) -> torch.Tensor:
    """Greedy (not exact) max-score assignment ``(G, n, n) -> (G, n)``: n argmax steps, no host read."""
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
    """Exact maximum-score assignment ``(G, n, n) -> (G, n)``; ``backend``: ``"scipy"`` (one host
    copy per batch), ``"torch"`` (on the device) or ``"auto"`` (scipy on the CPU, torch elsewhere)."""
    backend = resolve_lap_backend(backend, scores.device)
    _check_backend(backend)
    return _lap_scipy(scores) if backend == "scipy" else _lap_torch(scores)


@dataclasses.dataclass(eq=False)
class LinearAssignmentSolver:
    """Exact solver of the first-order problem (``ce`` ignored): the "w/o second-order" ablation."""

    backend: str = "auto"
    check_inputs: bool = True
    sync_free: bool | None = None

    def __post_init__(self) -> None:
        _check_backend(self.backend)

    @torch.no_grad()
    def __call__(self, cv, ce=None, edges_s=None, edges_t=None) -> torch.Tensor:
        _check_costs(cv, None, self.check_inputs)
        perm = linear_assignment(cv, resolve_lap_backend(self.backend, cv.device, self.sync_free))
        return _perm_to_matrix(perm, cv.shape[-1], cv.dtype)


def _log_sinkhorn(log_x: torch.Tensor, iterations: int, floor: float = -60.0) -> torch.Tensor:
    """Log-domain Sinkhorn normalisation. Log values stay above ``floor`` (relative to the row
    maximum): subnormal floats from ``exp`` are ~100x slower on x86 CPUs, and ``exp(-60)`` is 0 here."""
    log_x = (log_x - log_x.amax(-1, keepdim=True)).clamp_min(floor)
    for _ in range(iterations):
        log_x = (log_x - log_x.logsumexp(-1, keepdim=True)).clamp_min(floor)
        log_x = (log_x - log_x.logsumexp(-2, keepdim=True)).clamp_min(floor)
    return log_x.exp()


def _matching_lawler(k: torch.Tensor, n: int) -> torch.Tensor:
    """``K`` without the entries no permutation pays: a swap's gain then needs two entries of K."""
    num_graphs, big, _ = k.shape
    ar = torch.arange(n, device=k.device)
    same_row = ar.view(n, 1, 1, 1) == ar.view(1, 1, n, 1)
    same_col = ar.view(1, n, 1, 1) == ar.view(1, 1, 1, n)
    return k.view(num_graphs, n, n, n, n).masked_fill(same_row != same_col, 0.0).view(num_graphs, big, big)


def two_opt(
    k: torch.Tensor, perm: torch.Tensor, max_iterations: int, early_stop: bool = True, tol: float = 1e-6
) -> torch.Tensor:
    """Best-improvement pairwise-swap local search on ``vec(x)^T K vec(x)`` (``k: (G, n*n, n*n)``
    symmetric), batched over graphs and starts ``perm: (G, n)`` or ``(G, M, n)``. All swaps' gains
    ``2 d^T K x + d^T K d`` are scored at once (``K x`` updated by four rows of K per swap); the best
    is applied where it gains more than ``tol`` (relative to max |K|). ``early_stop`` (a host read
    per iteration) stops when no start improves; otherwise ``max_iterations`` run."""
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
        pair = b + b.transpose(2, 3) - b_diag.unsqueeze(3) - b_diag.unsqueeze(2)
        delta = 2 * pair + u + u.transpose(2, 3) + u_diag.unsqueeze(3) + u_diag.unsqueeze(2) + 2 * (k1 + k2)
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


def _best_start(k: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best of the M starts ``perm: (G, M, n)`` by ``vec(x)^T K vec(x)``: ``(G, n)`` and ``(G,)``."""
    num_graphs, starts, n = perm.shape
    x = _perm_to_matrix(perm, n, k.dtype).reshape(num_graphs, starts, n * n)
    value, index = (torch.bmm(x, k) * x).sum(-1).max(1)
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


@dataclasses.dataclass(eq=False)
class QuadraticSolver:
    """Batched approximate solver of Eq. 4 on the device: multi-start, iterated pairwise-swap search.
    Starts: graduated assignment (Gold & Rangarajan, 1996: ``x <- Sinkhorn(beta * K x)``, any sign of
    affinities) and the unary affinities, projected by ``projection`` (``"greedy"`` or ``"exact"``),
    plus ``restarts`` random permutations; :func:`two_opt` from all, then ``rounds`` of searching
    ``kick``-swap disturbed copies of the best. Draws are seeded with ``seed`` at every call."""

    betas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    inner_iterations: int = 4
    sinkhorn_iterations: int = 10
    local_search_iterations: int | None = None
    lap_backend: str = "auto"
    restarts: int = 30
    rounds: int = 2
    kick: int = 4
    seed: int = 0
    projection: str = "greedy"
    sync_free: bool | None = None
    check_inputs: bool = True

    def __post_init__(self) -> None:
        if self.projection not in ("greedy", "exact"):
            raise ValueError(f"projection must be 'greedy' or 'exact', got {self.projection!r}")
        _check_backend(self.lap_backend)
        for name in ("restarts", "rounds", "kick"):
            if getattr(self, name) < 0:
                raise ValueError(f"QuadraticSolver {name} must be >= 0, got {getattr(self, name)}")
        iterations = self.local_search_iterations
        if iterations is not None and iterations < 0:
            raise ValueError(f"local_search_iterations must be >= 0 or None, got {iterations}")
        self.betas = tuple(self.betas)

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
        backend = resolve_lap_backend(self.lap_backend, cv.device, sync_free)
        project = (
            greedy_assignment if self.projection == "greedy" else partial(linear_assignment, backend=backend)
        )
        starts_perm = torch.stack([project(x), project(work)], 1)
        generator = None  # also on "meta" (shape-only tensors: tests of the sync-free path)
        if (self.restarts or self.rounds) and cv.device.type != "meta":
            generator = torch.Generator(device=cv.device).manual_seed(self.seed)
        if self.restarts:
            noise = torch.rand(num_graphs, self.restarts, n, device=cv.device, generator=generator)
            starts_perm = torch.cat([starts_perm, noise.argsort(-1)], 1)
        iterations = self.local_search_iterations if self.local_search_iterations is not None else 2 * n
        best, best_value = _best_start(k, two_opt(k, starts_perm, iterations, early_stop=not sync_free))
        copies = starts_perm.shape[1]
        for _ in range(self.rounds):
            kicked = _random_swaps(best.unsqueeze(1).expand(num_graphs, copies, n), self.kick, generator)
            candidate, value = _best_start(
                k, two_opt(k, kicked, max(iterations // 2, 1), early_stop=not sync_free)
            )
            better = value > best_value
            best = torch.where(better.unsqueeze(1), candidate, best)
            best_value = torch.maximum(best_value, value)
        return _perm_to_matrix(best, n, cv.dtype)


@dataclasses.dataclass(eq=False)
class BruteForceSolver:
    """Exact solver by enumeration of all ``n!`` permutations (``n <= 8``); for tests."""

    max_nodes: int = 8

    @torch.no_grad()
    def __call__(self, cv, ce, edges_s, edges_t) -> torch.Tensor:
        _check_costs(cv, ce)
        num_graphs, n, _ = cv.shape
        if n > self.max_nodes:
            raise ValueError(f"brute force enumerates n! permutations; n={n} > max_nodes={self.max_nodes}")
        perms = torch.tensor(list(itertools.permutations(range(n))), device=cv.device)  # (P, n)
        xs = _perm_to_matrix(perms, n, torch.float64).reshape(len(perms), n * n)
        k = lawler_matrix(cv.double(), None if ce is None else ce.double(), edges_s, edges_t)
        best = torch.einsum("pn,gnm,pm->gp", xs, k, xs).argmax(1)
        return _perm_to_matrix(perms[best], n, cv.dtype)


class PygmtoolsSolver:
    """pygmtools' ``"rrwm"``, ``"ipfp"``, ``"sm"`` on our Lawler matrix (shifted to ``K >= 0`` for RRWM
    and SM: the optimum does not move), projected by :func:`linear_assignment`. Extra ``[solvers]``."""

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


# LPMP's label of an unmatched vertex: ``no_assignment`` (size_t max) as its bindings return it
LPMP_NO_ASSIGNMENT = 2**64 - 1
_LPMP_DEFAULT_PARAMS = {"timeout": 1000, "primalComputationInterval": 10, "maxIter": 100}


def lpmp_labeling_to_matrix(labels, num_right: int) -> np.ndarray:
    """LPMP labeling (``LPMP_NO_ASSIGNMENT`` or -1: unmatched) -> 0/1 ``(num_left, num_right)`` mask."""
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
    """Complete a partial matching ``mask: (n, n)`` to a permutation matrix: matched pairs kept, the
    free rows get the free columns maximising ``scores`` (scipy); ``SolverError`` if not a matching."""
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


class LpmpSolver:
    """The paper's solver: LPMP's dual decomposition (Swoboda et al., CVPR 2017) through its Python
    bindings (built from source), graph by graph on the host with the negated affinities as costs;
    vertices it leaves unmatched are completed by :func:`complete_partial_matching`."""

    def __init__(self, solver_params: dict | None = None) -> None:
        self.solver_params = solver_params or dict(_LPMP_DEFAULT_PARAMS)
        # gm_solver from lpmp_py (older LPMP, as BB-GM) or lpmp_gm (LPMP today)
        for package in ("lpmp_py", "lpmp_gm"):
            with contextlib.suppress(ImportError):
                self._gm_solver = importlib.import_module(f"{package}.raw_solvers").gm_solver
                return
        raise ImportError(
            "solver 'lpmp' needs LPMP's Python bindings (package lpmp_py or lpmp_gm), which are not on a "
            "package registry: build them from https://github.com/LPMP/LPMP, or use solver='quadratic'"
        )

    @staticmethod
    def to_permutation(result, scores) -> np.ndarray:
        """One graph's LPMP output (masks, a mask or a labeling) -> ``(n, n)`` permutation matrix."""
        s = np.asarray(scores, dtype=np.float64)
        out = np.asarray(result[0] if isinstance(result, tuple) else result)
        if out.ndim == 1:
            out = lpmp_labeling_to_matrix(out.tolist(), s.shape[1])
        return complete_partial_matching(out, s)

    @torch.no_grad()
    def __call__(self, cv, ce, edges_s, edges_t) -> torch.Tensor:
        _check_costs(cv, ce)
        num_graphs, n, _ = cv.shape
        scores = cv.detach().double().cpu().numpy()
        qcosts = np.zeros((num_graphs, 0, 0)) if ce is None else (-ce).detach().double().cpu().numpy()
        no_edges = np.zeros((num_graphs, 0, 2), dtype=np.intc)
        es = no_edges if edges_s is None else edges_s.cpu().numpy()
        et = no_edges if edges_t is None else edges_t.cpu().numpy()
        out = []
        for g in range(num_graphs):
            result = self._gm_solver(-scores[g], qcosts[g], es[g], et[g], self.solver_params)
            out.append(self.to_permutation(result, scores[g]))
        return torch.from_numpy(np.stack(out)).to(device=cv.device, dtype=cv.dtype)


SOLVERS: dict[str, Callable[..., GraphMatchingSolver]] = {
    "quadratic": QuadraticSolver,
    "linear": LinearAssignmentSolver,
    "brute_force": BruteForceSolver,
    "lpmp": LpmpSolver,
    "pygm_rrwm": partial(PygmtoolsSolver, "rrwm"),
    "pygm_ipfp": partial(PygmtoolsSolver, "ipfp"),
    "pygm_sm": partial(PygmtoolsSolver, "sm"),
}


def build_solver(name: str, **kwargs) -> GraphMatchingSolver:
    """The solver called ``name`` in ``SOLVERS``, built with ``kwargs``."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; expected one of {sorted(SOLVERS)}")
    return SOLVERS[name](**kwargs)


def gumbel_noise(shape: torch.Size, scale: float, like: torch.Tensor, generator=None) -> torch.Tensor:
    """Gumbel(0, scale) samples ``-scale * log(-log U)``."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    tiny = torch.finfo(like.dtype).tiny
    neg_log_u = (-torch.log(u.clamp_min(tiny))).clamp_min(tiny)
    return -scale * torch.log(neg_log_u)
