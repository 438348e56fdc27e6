"""One step of the loss without a device -> host transfer (issue 11, point 1).

Two independent proofs, both on a machine without a GPU:

* Instrumented CPU run: a TorchFunctionMode and a TorchDispatchMode count every call that reads a
  tensor on the host or would copy it there on a GPU: ``.item()``, ``bool()`` / ``float()`` /
  ``int()`` of a tensor (``aten._local_scalar_dense``), ``.numpy()``, ``.tolist()``, ``.cpu()``,
  ``.to("cpu")``, ``__array__``, and the ops whose output size depends on values (``nonzero``,
  boolean-mask indexing, ``masked_select``, ``unique``), which synchronise on CUDA. The modes
  also see the autograd backward (run on the calling thread on the CPU). The same counter finds
  the host reads of the eager (CPU default) path, so it is not blind.
* Meta device: the loss's forward and backward run on ``device="meta"`` (shapes only): any host
  read there raises, so the sync-free path (the one a CUDA device takes: ``sync_free`` and
  ``lap_backend="auto"`` resolve by device type) cannot contain one.

On a GPU the equivalent check is ``torch.cuda.set_sync_debug_mode("error")`` around a training
step (docs/pretraining.md).
"""

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from lvmmed_hf.graph_matching import GraphMatchingLoss, GraphMatchingLossConfig

B, D, C = 32, 128, 8
HOST_READ_METHODS = {
    "item",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "numpy",
    "tolist",
    "cpu",
    "__array__",
}
VALUE_DEPENDENT_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2"}


def _names_cpu(args, kwargs) -> bool:
    values = list(args) + list((kwargs or {}).values())
    return any(str(v) == "cpu" or (isinstance(v, torch.device) and v.type == "cpu") for v in values)


class _HostReads(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name in HOST_READ_METHODS or (name == "to" and _names_cpu(args[1:], kwargs)):
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


class _ValueDependentOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        name = func.overloadpacket.__name__
        indices = args[1] if name.startswith("index") and len(args) > 1 else ()
        indices = indices if isinstance(indices, (list, tuple)) else ()
        boolean_index = any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)
        if name in VALUE_DEPENDENT_OPS or boolean_index:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def _inputs(device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(B, D, generator=g)
    zt = zs + 0.5 * torch.randn(B, D, generator=g)
    ys = torch.randn(B, C, 3, 3, generator=g)
    yt = ys + 0.5 * torch.randn(B, C, 3, 3, generator=g)
    boxes = torch.rand(B, 4, generator=g)
    return [t.to(device) for t in (zs, zt, ys, yt, boxes, boxes.clone())]


def _step(loss_fn, inputs):
    """One training step of the loss: forward (graphs, GCN, affinities, noise, solve), backward
    (backward solve, gradients to the inputs and the GCN)."""
    zs, zt, ys, yt, bs, bt = inputs
    zs, zt, ys, yt = (t.clone().requires_grad_(True) for t in (zs, zt, ys, yt))
    out = loss_fn(zs, zt, ys, yt, bs, bt)
    out.loss.backward()
    return out, zs.grad


def _counted_step(**options):
    torch.manual_seed(0)
    loss_fn = GraphMatchingLoss(GraphMatchingLossConfig(**options)).train()
    inputs = _inputs()
    _step(loss_fn, inputs)  # warm-up outside the counters (first-call caches)
    torch.manual_seed(1)
    with _HostReads() as host, _ValueDependentOps() as dispatch:
        out, grad = _step(loss_fn, inputs)
    return host, dispatch, out, grad


@pytest.mark.parametrize(
    "options",
    [
        {},  # the paper's full loss (quadratic solver, Gumbel noise, local term)
        {"gumbel": False},  # margin instead of noise
        {"second_order": False},  # linear assignment (device Hungarian)
    ],
    ids=["full", "margin", "first_order"],
)
def test_sync_free_step_reads_nothing_back_to_the_host(options):
    host, dispatch, out, grad = _counted_step(sync_free=True, **options)
    assert dispatch.ops > 500  # the counters saw the step
    assert host.calls == [], host.calls
    assert dispatch.calls == [], dispatch.calls
    assert isinstance(out.matching_accuracy, torch.Tensor) and out.matching_accuracy.dim() == 0
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_the_counter_finds_the_host_reads_of_the_eager_path():
    """Control: the CPU default (eager checks, scipy assignment, early-stopping local search)
    does read the device; the same counter must report it."""
    host, dispatch, *_ = _counted_step(sync_free=False, lap_backend="scipy")
    assert "__bool__" in host.calls  # finiteness checks, early stops
    assert "_local_scalar_dense" in dispatch.calls
    host, dispatch, *_ = _counted_step(sync_free=False, lap_backend="scipy", second_order=False)
    assert "numpy" in host.calls  # scipy assignment


def test_sync_free_and_eager_paths_give_the_same_step():
    """Fixed iteration counts and the device Hungarian change how, not what, is computed."""
    results = []
    for sync_free in (False, True):
        torch.manual_seed(0)
        loss_fn = GraphMatchingLoss(GraphMatchingLossConfig(sync_free=sync_free)).train()
        torch.manual_seed(1)
        out, grad = _step(loss_fn, _inputs(seed=3))
        results.append((out.matching, out.loss.detach(), grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    torch.testing.assert_close(results[0][1], results[1][1])
    torch.testing.assert_close(results[0][2], results[1][2])


@pytest.mark.parametrize("second_order", [True, False])
def test_loss_runs_forward_and_backward_on_the_meta_device(second_order):
    """A host read of a meta tensor raises: the device path has none. (Small graphs and a short
    solver schedule: the meta device is slow per op; every code path of the solver still runs.)"""
    config = GraphMatchingLossConfig(
        second_order=second_order,
        graph_size=8,
        k=3,
        solver_restarts=2,
        solver_rounds=1,
        solver_kwargs={"betas": (1.0, 64.0), "inner_iterations": 1, "sinkhorn_iterations": 3},
    )
    loss_fn = GraphMatchingLoss(config).to("meta").train()
    out, grad = _step(loss_fn, _inputs(device="meta"))
    assert out.loss.device.type == "meta" and out.matching_accuracy.device.type == "meta"
    assert grad.shape == (B, D)
    assert loss_fn.solver_for(True).__class__.__name__ in ("QuadraticSolver", "LinearAssignmentSolver")


def test_non_finite_input_is_reported_at_the_deferred_check():
    loss_fn = GraphMatchingLoss(GraphMatchingLossConfig(sync_free=True)).train()
    zs, zt, ys, yt, bs, bt = _inputs()
    loss_fn.raise_if_nonfinite()  # nothing recorded yet
    bad = zs.clone()
    bad[5, 3] = float("nan")
    out, grad = _step(loss_fn, (bad, zt, ys, yt, bs, bt))  # no exception inside the step
    assert torch.isfinite(grad).all()  # the NaN entry got zeros, no NaN gradient flows back
    assert out.matching.sum((1, 2)).tolist() == [16.0, 16.0]  # still permutations
    with pytest.raises(ValueError, match="z_s contained NaN or inf"):
        loss_fn.raise_if_nonfinite()
    loss_fn.raise_if_nonfinite()  # the flag was cleared by the report
    _step(loss_fn, (zs, zt, ys, yt, bs, bt))
    loss_fn.raise_if_nonfinite()


def test_eager_path_still_raises_at_once():
    loss_fn = GraphMatchingLoss(GraphMatchingLossConfig(sync_free=False)).train()
    zs, zt, ys, yt, bs, bt = _inputs()
    bad = yt.clone()
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="y_t contains NaN or inf"):
        _step(loss_fn, (zs, zt, ys, bad, bs, bt))
