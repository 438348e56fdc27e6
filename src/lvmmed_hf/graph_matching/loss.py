"""The LVM-Med graph-matching loss: graphs -> message passing -> affinities -> solver -> Hamming.

Nguyen et al., NeurIPS 2023, Sec. 3 and Alg. 1. Every switch of the paper's ablation (Table 6)
is a field of :class:`GraphMatchingLossConfig`:

=========================  =======================================================
"w/o second-order"         ``second_order=False`` (exact linear assignment on c^v)
"w/o message passing"      ``message_passing=False`` (affinities on z, no GCN)
"w/o Gumbel noise"         ``gumbel=False`` (or ``gumbel_scale=0``)
"w/o local similarity"     ``local_similarity=False`` (c^v = global cosine)
=========================  =======================================================
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from .affinities import edge_affinity, local_affinity, vertex_affinity
from .estimator import SolverTimer, blackbox_graph_matching
from .graphs import KnnGraphs, knn_graphs, split_into_graphs
from .message_passing import GraphConvolutionalNetwork
from .solvers import build_solver

logger = logging.getLogger(__name__)


@dataclass
class GraphMatchingLossConfig:
    """Options of the graph-matching loss; defaults are the paper's full method (method.md)."""

    graph_size: int = 16
    """Nodes (images) per graph; the batch is split into independent graphs of this size."""
    k: int = 5
    """Nearest neighbours per node (Euclidean on the projected embeddings)."""
    alpha: float = 0.8
    """Weight of the global cosine in the vertex affinity (Eq. 2); 1 - alpha for the local term."""
    blackbox_lambda: float = 80.0
    """Interpolation strength lambda of the blackbox gradient (paper App. A: 80)."""
    gumbel: bool = True
    """Perturb the affinities with Gumbel noise during training (Alg. 1)."""
    gumbel_scale: float = 1.0
    """Scale of the Gumbel noise (paper: Gumbel(0, 1); the authors' later code uses 0.05)."""
    second_order: bool = True
    """Include the edge (second-order) affinities; False solves a linear assignment."""
    message_passing: bool = True
    """Run the GCN on the kNN graphs before computing affinities."""
    local_similarity: bool = True
    """Add the local (feature-map) term to the vertex affinity."""
    margin: float = 0.0
    """BB-GM style margin: gold pairs' affinities are lowered by this during training (a cost
    margin of +margin on the gold matching); 0 disables it."""
    gamma: int = 20
    """Best position pairs kept per match kind in the local term (unspecified in the paper)."""
    solver: str = "quadratic"
    """Quadratic solver name (see ``graph_matching.solvers.SOLVERS``)."""
    lap_backend: str = "scipy"
    """Exact linear assignment: "scipy" (one host copy per batch) or "torch" (on the device)."""
    embedding_dim: int = 128
    """Size of the projected embeddings z (input of the GCN)."""
    gcn_hidden_dim: int = 128
    gcn_layers: int = 2
    gcn_residual: bool = False
    """Residual message passing ``z + GCN(z)`` (not in the paper; see GraphConvolutionalNetwork)."""
    solver_kwargs: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict | None) -> GraphMatchingLossConfig:
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown graph-matching options {unknown}; expected some of {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class GraphMatchingOutput:
    """loss: scalar mean Hamming loss per graph; matching_accuracy: fraction of nodes matched to
    their own image; matching: ``(G, n, n)`` solver output; solver_seconds: forward solve time
    (the backward solve adds to ``GraphMatchingLoss.timer``)."""

    loss: torch.Tensor
    matching_accuracy: torch.Tensor
    matching: torch.Tensor
    num_graphs: int
    solver_seconds: float


def hamming_loss(x: torch.Tensor) -> torch.Tensor:
    """``sum(x (1 - I) + I (1 - x))`` per graph against the identity matching: ``(G,)``."""
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    return (x * (1 - eye) + eye * (1 - x)).sum((1, 2))


class GraphMatchingLoss(nn.Module):
    """LVM-Med's second-order graph-matching loss (holds the GCN when message passing is on).

    forward(z_s, z_t, y_s, y_t, boxes_s, boxes_t):
        z_s, z_t: ``(B, d)`` projected embeddings of the two views (row b = image b).
        y_s, y_t: ``(B, C, h, w)`` backbone feature maps (needed by the local term).
        boxes_s, boxes_t: ``(B, 4)`` crop boxes (see ``affinities`` module docstring).
    """

    def __init__(self, config: GraphMatchingLossConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or GraphMatchingLossConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        if not 1 <= config.k < config.graph_size:
            raise ValueError(f"k must satisfy 1 <= k < graph_size ({config.graph_size}), got {config.k}")
        if not 0.0 <= config.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {config.alpha}")
        self.gcn = (
            GraphConvolutionalNetwork(
                config.embedding_dim, config.gcn_hidden_dim, config.gcn_layers, config.gcn_residual
            )
            if config.message_passing
            else None
        )
        if config.second_order:
            self.solver = build_solver(config.solver, **_solver_kwargs(config))
        else:
            self.solver = build_solver("linear", backend=config.lap_backend)
        self.timer = SolverTimer()

    def forward(
        self,
        z_s: torch.Tensor,
        z_t: torch.Tensor,
        y_s: torch.Tensor | None = None,
        y_t: torch.Tensor | None = None,
        boxes_s: torch.Tensor | None = None,
        boxes_t: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> GraphMatchingOutput:
        cfg = self.config
        cv, ce, graphs_s, graphs_t = self.affinities(z_s, z_t, y_s, y_t, boxes_s, boxes_t)
        n = cfg.graph_size
        eye = torch.eye(n, dtype=cv.dtype, device=cv.device)
        if self.training and cfg.margin:
            cv = cv - cfg.margin * eye
        noise = cfg.gumbel_scale if (self.training and cfg.gumbel) else 0.0
        before = self.timer.seconds
        x = blackbox_graph_matching(
            cv,
            ce,
            graphs_s.edges if ce is not None else None,
            graphs_t.edges if ce is not None else None,
            self.solver,
            lam=cfg.blackbox_lambda,
            noise_scale=noise,
            generator=generator,
            timer=self.timer,
        )
        loss = hamming_loss(x).mean()
        accuracy = x.detach().diagonal(dim1=1, dim2=2).mean()
        return GraphMatchingOutput(
            loss=loss,
            matching_accuracy=accuracy,
            matching=x.detach(),
            num_graphs=x.shape[0],
            solver_seconds=self.timer.seconds - before,
        )

    def affinities(
        self,
        z_s: torch.Tensor,
        z_t: torch.Tensor,
        y_s: torch.Tensor | None = None,
        y_t: torch.Tensor | None = None,
        boxes_s: torch.Tensor | None = None,
        boxes_t: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, KnnGraphs, KnnGraphs]:
        """Vertex affinities ``(G, n, n)``, edge affinities ``(G, nk, nk)`` (None when first
        order) and the two graph batches, before noise and margin."""
        cfg = self.config
        _check_finite("z_s", z_s)
        _check_finite("z_t", z_t)
        if z_s.shape != z_t.shape or z_s.dim() != 2:
            raise ValueError(
                f"z_s and z_t must both be (batch, dim), got {tuple(z_s.shape)} and {tuple(z_t.shape)}"
            )
        zs, zt = split_into_graphs(z_s, cfg.graph_size), split_into_graphs(z_t, cfg.graph_size)
        graphs_s, graphs_t = knn_graphs(zs, cfg.k), knn_graphs(zt, cfg.k)
        if self.gcn is not None:
            hs, ht = self.gcn(zs, graphs_s.adjacency), self.gcn(zt, graphs_t.adjacency)
        else:
            hs, ht = zs, zt
        local = None
        if cfg.local_similarity:
            if y_s is None or y_t is None or boxes_s is None or boxes_t is None:
                raise ValueError(
                    "local_similarity=True needs the feature maps y_s, y_t and the crop boxes boxes_s, boxes_t"
                )
            _check_finite("y_s", y_s)
            _check_finite("y_t", y_t)
            local = local_affinity(
                split_into_graphs(y_s, cfg.graph_size),
                split_into_graphs(y_t, cfg.graph_size),
                split_into_graphs(boxes_s, cfg.graph_size),
                split_into_graphs(boxes_t, cfg.graph_size),
                gamma=cfg.gamma,
            )
        cv = vertex_affinity(hs.float(), ht.float(), local, cfg.alpha)
        ce = (
            edge_affinity(hs.float(), ht.float(), graphs_s.edges, graphs_t.edges)
            if cfg.second_order
            else None
        )
        return cv, ce, graphs_s, graphs_t


def _solver_kwargs(config: GraphMatchingLossConfig) -> dict:
    kwargs = dict(config.solver_kwargs)
    if config.solver in ("quadratic", "pygm_rrwm", "pygm_ipfp", "pygm_sm"):
        kwargs.setdefault("lap_backend", config.lap_backend)
    return kwargs


def _check_finite(name: str, t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        raise ValueError(
            f"{name} contains NaN or inf values (shape {tuple(t.shape)}); the graph-matching loss needs finite inputs"
        )
