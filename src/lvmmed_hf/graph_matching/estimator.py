"""Gradient through the solver: LVM-Med Alg. 1 (I-MLE with Gumbel noise), the blackbox
differentiation of Vlastelica et al. (ICLR 2020) used by BB-GM, in affinity form with
``c = (c^v, c^e)`` and solutions ``y = (x, x[i,a] x[j,b])``:

    forward:   x~ = GM(c + eps)  (eps: Gumbel noise, saved)
    backward:  x_lambda = GM(c + eps - lambda * g / s);  dL/dc = s (y(x~) - y(x_lambda)) / lambda

with g = dL/dx~ and s = max |g| per graph (1 for one graph's Hamming loss, the paper's setting):
the exact gradient of ``F(c) = (max_y <c, y> - max_y <c - lambda g, y>) / lambda`` (g held fixed)."""

from __future__ import annotations

import dataclasses
import time

import torch

from .solvers import GraphMatchingSolver, SolverError, gumbel_noise, pair_indicators, validate_permutations


@dataclasses.dataclass
class SolverTimer:
    """Host wall-clock seconds of a solver's calls (on CUDA: the kernel launch time, not device time)."""

    seconds: float = 0.0


class FiniteCheck:
    """``check(name, t)`` raises ``ValueError`` if ``t`` is not finite, or, if ``deferred``, flags it on
    the device, returns it with NaN / inf set to 0 and :meth:`raise_if_nonfinite` raises later."""

    def __init__(self, deferred: bool = False) -> None:
        self.deferred = deferred
        self._flags: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, t: torch.Tensor) -> torch.Tensor:
        if not self.deferred:
            if not torch.isfinite(t).all():
                raise ValueError(
                    f"{name} contains NaN or inf values (shape {tuple(t.shape)}); "
                    "the graph-matching loss needs finite inputs"
                )
            return t
        bad = ~torch.isfinite(t.detach()).all()
        self._flags[name] = self._flags[name] | bad if name in self._flags else bad
        return torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)

    def raise_if_nonfinite(self) -> None:
        """Raise ``ValueError`` naming every tensor that held NaN or inf since the last call."""
        flags, self._flags = self._flags, {}
        if not flags:
            return
        found = torch.stack([flag.to("cpu") for flag in flags.values()]).tolist()  # one host read
        bad = [name for name, flag in zip(flags, found, strict=True) if flag]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} contained NaN or inf values in at least one step since the last check; "
                "the graph-matching loss needs finite inputs (those steps used zeros in their place)"
            )


def _solve(
    solver, cv, ce, edges_s, edges_t, timer: SolverTimer | None, what: str, validate: bool = True
) -> torch.Tensor:
    start = time.perf_counter()
    name = type(solver).__name__
    try:
        x = solver(cv, ce, edges_s, edges_t)
    except SolverError:
        raise
    except Exception as err:
        raise SolverError(f"graph-matching solver {name} failed in the {what} solve: {err}") from err
    if timer is not None:
        timer.seconds += time.perf_counter() - start
    if validate:
        validate_permutations(x, tuple(cv.shape), f"{name} ({what} solve)")
    elif tuple(x.shape) != tuple(cv.shape):
        raise SolverError(f"{name} ({what} solve) returned shape {tuple(x.shape)}")
    return x.to(cv.dtype)


class BlackboxGraphMatching(torch.autograd.Function):
    """``x~ = GM(cv + noise_v, ce + noise_e)`` with the blackbox gradient; ``finite_check``: ``None``
    (validate solutions, raise on a non-finite gradient: host reads) or a deferred :class:`FiniteCheck`."""

    @staticmethod
    def forward(ctx, cv, ce, noise_v, noise_e, edges_s, edges_t, solver, lam, timer, finite_check=None):
        cv_p = cv.detach() if noise_v is None else cv.detach() + noise_v
        ce_p = None
        if ce is not None:
            ce_p = ce.detach() if noise_e is None else ce.detach() + noise_e
        x = _solve(solver, cv_p, ce_p, edges_s, edges_t, timer, "forward", finite_check is None)
        ctx.solver, ctx.lam, ctx.timer, ctx.finite_check = solver, lam, timer, finite_check
        ctx.has_ce = ce is not None
        ctx.save_for_backward(cv_p, ce_p if ce_p is not None else torch.empty(0), x, edges_s, edges_t)
        return x

    @staticmethod
    def backward(ctx, grad_x):
        cv_p, ce_p, x, edges_s, edges_t = ctx.saved_tensors
        ce_p = ce_p if ctx.has_ce else None
        grad_x = (ctx.finite_check or FiniteCheck())("gradient reaching the graph-matching solver", grad_x)
        # Per-graph scale of the incoming gradient: perturbing with grad_x / scale keeps lambda's
        # meaning under any loss weighting (mean over graphs, accumulation, AMP scaling), and
        # multiplying back makes the estimate linear in the loss.
        scale = grad_x.abs().amax((1, 2), keepdim=True)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        cv_lam = cv_p - ctx.lam * grad_x / safe
        validate = ctx.finite_check is None
        x_lam = _solve(ctx.solver, cv_lam, ce_p, edges_s, edges_t, ctx.timer, "backward", validate)
        grad_cv = scale * (x - x_lam) / ctx.lam
        grad_ce = None
        if ctx.has_ce and ctx.needs_input_grad[1]:
            paid = pair_indicators(x, edges_s, edges_t) - pair_indicators(x_lam, edges_s, edges_t)
            grad_ce = scale * paid / ctx.lam
        return grad_cv, grad_ce, None, None, None, None, None, None, None, None


def blackbox_graph_matching(
    cv: torch.Tensor,
    ce: torch.Tensor | None,
    edges_s: torch.Tensor | None,
    edges_t: torch.Tensor | None,
    solver: GraphMatchingSolver,
    lam: float = 80.0,
    noise_scale: float = 0.0,
    generator: torch.Generator | None = None,
    timer: SolverTimer | None = None,
    finite_check: FiniteCheck | None = None,
) -> torch.Tensor:
    """Solve the (Gumbel-perturbed) matching problem with the blackbox gradient: ``(G, n, n)``."""
    if lam <= 0:
        raise ValueError(f"lambda must be > 0, got {lam}")
    if ce is not None and (edges_s is None or edges_t is None):
        raise ValueError("edge affinities ce need edges_s and edges_t")
    noise_v = noise_e = None
    if noise_scale > 0:
        noise_v = gumbel_noise(cv.shape, noise_scale, cv.detach(), generator)
        if ce is not None:
            noise_e = gumbel_noise(ce.shape, noise_scale, ce.detach(), generator)
    return BlackboxGraphMatching.apply(
        cv, ce, noise_v, noise_e, edges_s, edges_t, solver, lam, timer, finite_check
    )
