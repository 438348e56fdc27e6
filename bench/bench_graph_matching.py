#!/usr/bin/env python
"""Cost of the graph-matching loss per training step, against the backbone's step, in one run.

Paper configuration: 16-node graphs, k = 5, 128-d embeddings, ResNet-50 feature maps 2048 x 7 x 7
(224 px views). For a local batch of B images it times

  loss step  = kNN graphs + GCN + vertex (global + local) and edge affinities + forward solve
               + Hamming loss + backward (incl. the backward solve), on (B, 128) embeddings and
               (B, 2048, 7, 7) feature maps of each view;
  backbone   = ResNet-50 forward + backward on the 2B views (both views pass the backbone);

and, for every solver, graphs/s and the objective gap to the best solver on the same instances
(the loss's own affinities with Gumbel noise, as in training).

    python bench/bench_graph_matching.py --batch 64 --device cpu
"""

from __future__ import annotations

import argparse
import time

import torch

from lvmmed_hf import LvmMedCnnConfig, LvmMedCnnModel
from lvmmed_hf.graph_matching import GraphMatchingLoss, build_solver, qap_objective
from lvmmed_hf.graph_matching.solvers import gumbel_noise


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_it(fn, device, repeats):
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64, help="local batch (images per process)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbone_repeats", type=int, default=1)
    parser.add_argument("--solver_graphs", type=int, default=256, help="graphs per solver measurement")
    parser.add_argument("--solvers", default="quadratic,linear,pygm_rrwm,pygm_ipfp,pygm_sm")
    parser.add_argument("--lap_backends", default="scipy,torch")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    b = args.batch

    # ---- loss step -----------------------------------------------------------------------
    loss_fn = GraphMatchingLoss().to(device).train()
    z = torch.randn(2 * b, 128, device=device)
    y = torch.randn(2 * b, 2048, 7, 7, device=device).relu()
    boxes = torch.rand(2 * b, 4, device=device)

    def loss_step():
        zz = z.clone().requires_grad_(True)
        yy = y.clone().requires_grad_(True)
        out = loss_fn(zz[:b], zz[b:], yy[:b], yy[b:], boxes[:b], boxes[b:])
        out.loss.backward()

    loss_fn.timer.reset()
    t_loss = time_it(loss_step, device, args.repeats)
    solver_share = loss_fn.timer.seconds / loss_fn.timer.calls * 2  # forward + backward solve

    # ---- backbone step -------------------------------------------------------------------
    backbone = LvmMedCnnModel(LvmMedCnnConfig()).to(device).train()
    views = torch.randn(2 * b, 3, 224, 224, device=device)

    def backbone_step():
        out = backbone(views)
        out.pooler_output.sum().backward()
        backbone.zero_grad(set_to_none=True)

    t_backbone = time_it(backbone_step, device, args.backbone_repeats)

    print(
        f"device: {device}, local batch {b} images ({b // 16} graphs of 16, k=5, 128-d), R50 at 224 px on {2 * b} views"
    )
    print()
    print("| part | seconds per step | share of backbone step |")
    print("|---|---:|---:|")
    print(f"| R50 forward+backward ({2 * b} views) | {t_backbone:.3f} | 100% |")
    print(
        f"| graph-matching loss (graphs, GCN, affinities, 2 solves, backward) | {t_loss:.3f} | {100 * t_loss / t_backbone:.2f}% |"
    )
    print(
        f"| of which the two solves (quadratic) | {solver_share:.3f} | {100 * solver_share / t_backbone:.2f}% |"
    )

    # ---- solvers ---------------------------------------------------------------------------
    g = args.solver_graphs
    n = 16
    zs = torch.randn(g * n, 128, device=device)
    zt = zs + 0.7 * torch.randn(g * n, 128, device=device)
    ys = torch.randn(g * n, 64, 7, 7, device=device)
    yt = ys + 0.7 * torch.randn_like(ys)
    bx = torch.rand(g * n, 4, device=device)
    with torch.no_grad():
        cv, ce, gs, gt = loss_fn.affinities(zs, zt, ys, yt, bx, bx)
        cv = cv + gumbel_noise(cv.shape, 1.0, cv)
        ce = ce + gumbel_noise(ce.shape, 1.0, ce)
    results = {}
    names = []
    for name in args.solvers.split(","):
        backends = args.lap_backends.split(",") if name in ("quadratic", "linear") else ["scipy"]
        for backend in backends:
            key = f"{name} (LAP: {backend})"
            kwargs = {"backend": backend} if name == "linear" else {"lap_backend": backend}
            try:
                solver = build_solver(name, **kwargs)
            except ImportError as err:
                print(f"skip {name}: {err}")
                continue
            edge_costs = None if name == "linear" else ce
            holder = {}

            def run(solver=solver, edge_costs=edge_costs, holder=holder):
                holder["x"] = solver(cv, edge_costs, gs.edges, gt.edges)

            seconds = time_it(run, device, 1)
            results[key] = (seconds, qap_objective(holder["x"], cv, ce, gs.edges, gt.edges))
            names.append(key)
    best = torch.stack([v[1] for v in results.values()]).max(0).values
    print()
    print(
        f"Solvers on {g} graphs (16 nodes, k=5, Gumbel(0,1)-perturbed affinities of the loss); objective of Eq. 4"
    )
    print()
    print("| solver | graphs/s | mean gap to best | best on |")
    print("|---|---:|---:|---:|")
    for key in names:
        seconds, obj = results[key]
        gap = ((best - obj) / best.abs().clamp_min(1e-9)).mean().item()
        wins = (obj >= best - 1e-4).float().mean().item()
        print(f"| {key} | {g / seconds:,.0f} | {100 * gap:.2f}% | {100 * wins:.0f}% |")


if __name__ == "__main__":
    main()
