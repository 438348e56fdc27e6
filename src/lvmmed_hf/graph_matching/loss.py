"""The LVM-Med graph-matching loss (Sec. 3, Alg. 1): graphs -> GCN -> affinities -> solver -> Hamming.

The paper's ablations (Table 6) are config fields: "w/o second-order" ``second_order=False``
(linear assignment on c^v), "w/o message passing" ``message_passing=False``, "w/o Gumbel noise"
``gumbel=False`` (a BB-GM ``margin`` on the gold pairs instead), "w/o local similarity"
``local_similarity=False``. With ``sync_free`` (default off the CPU) a step reads nothing back to
the host: non-finite inputs raise later, in :meth:`GraphMatchingLoss.raise_if_nonfinite`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from .affinities import edge_affinity, local_affinity, vertex_affinity
from .estimator import FiniteCheck, SolverTimer, blackbox_graph_matching
from .graphs import KnnGraphs, knn_graphs, split_into_graphs
from .message_passing import GraphConvolutionalNetwork
from .solvers import LAP_BACKENDS, SOLVERS, build_solver, resolve_sync_free

_QUADRATIC_SOLVERS = ("quadratic", "pygm_rrwm", "pygm_ipfp", "pygm_sm")


def _option(default, help_text: str):
    """A config field with its command-line help (``HfArgumentParser`` reads it)."""
    return field(default=default, metadata={"help": help_text})


@dataclass
class GraphMatchingLossConfig:
    """Options of the graph-matching loss (defaults: the paper's method), checked when built."""

    graph_size: int = _option(
        16, "nodes (images) per graph; each local batch is split into graphs of this size"
    )
    k: int = _option(5, "nearest neighbours per node (Euclidean on z), 1 <= k < graph_size")
    alpha: float = _option(
        0.8, "weight of the global cosine in the vertex affinity (Eq. 2), in [0, 1]; 1 - alpha local"
    )
    blackbox_lambda: float = _option(
        80.0, "interpolation strength lambda of the blackbox gradient (> 0; paper: 80)"
    )
    gumbel: bool = _option(
        True,
        "perturb the affinities with Gumbel noise in training (Alg. 1); False is the paper's "
        "'w/o Gumbel noise' ablation: a margin of --margin on the gold pairs' costs instead",
    )
    gumbel_scale: float = _option(
        1.0, "scale of the Gumbel noise (>= 0; paper: 1; the authors' later code: 0.05; 0 = no noise)"
    )
    second_order: bool = _option(
        True, "include the edge (second-order) affinities; False solves a linear assignment"
    )
    message_passing: bool = _option(True, "run the GCN on the kNN graphs before computing affinities")
    local_similarity: bool = _option(True, "add the local (feature-map) term to the vertex affinity")
    margin: float = _option(
        1.0,
        "BB-GM margin (>= 0) added to the gold pairs' unary costs (subtracted from their "
        "affinities) in training whenever there is no noise (--gumbel False or --gumbel_scale 0); "
        "0 disables it",
    )
    gamma: int = _option(
        20, "best position pairs kept per match kind in the local term (>= 1; not in the paper)"
    )
    solver: str = _option(
        "quadratic", f"quadratic solver, one of {sorted(SOLVERS)} (see graph_matching.solvers)"
    )
    solver_restarts: int = _option(
        30, "quadratic solver: random starts of the pairwise-swap search besides its two fixed starts"
    )
    solver_rounds: int = _option(
        2, "quadratic solver: rounds of iterated local search (kicked copies of the best matching)"
    )
    lap_backend: str = _option(
        "auto",
        "exact linear assignment: 'scipy' (one host copy per batch), 'torch' (on the device) or "
        "'auto' (scipy on the CPU, torch elsewhere)",
    )
    sync_free: bool | None = _option(
        None,
        "no host synchronisation in the loss (deferred finiteness check, fixed solver "
        "iterations); default: on for every device but the CPU",
    )
    embedding_dim: int = _option(128, "size of the projected embeddings z (GCN input)")
    gcn_hidden_dim: int = _option(128, "width of the GCN layers")
    gcn_layers: int = _option(2, "number of GCN layers (>= 1)")
    gcn_residual: bool = _option(
        False, "residual message passing z + GCN(z) (not in the paper; see GraphConvolutionalNetwork)"
    )
    solver_kwargs: dict = field(
        default_factory=dict, metadata={"help": "extra keyword arguments of the solver (Python API only)"}
    )

    def __post_init__(self) -> None:
        residual_ok = not (
            self.gcn_residual and self.message_passing and self.embedding_dim != self.gcn_hidden_dim
        )
        checks = (  # (option, valid, expected), checked in this order
            ("graph_size", self.graph_size >= 2, "an integer >= 2"),
            ("k", 1 <= self.k < self.graph_size, f"1 <= k < graph_size ({self.graph_size})"),
            ("alpha", 0.0 <= self.alpha <= 1.0, "a value in [0, 1]"),
            ("blackbox_lambda", self.blackbox_lambda > 0, "a value > 0"),
            ("gumbel_scale", self.gumbel_scale >= 0, "a value >= 0 (the scale of Gumbel(0, scale))"),
            ("margin", self.margin >= 0, "a value >= 0 (a cost margin on the gold pairs)"),
            ("gamma", self.gamma >= 1, "an integer >= 1"),
            ("solver", self.solver in SOLVERS, f"one of {sorted(SOLVERS)}"),
            ("solver_restarts", self.solver_restarts >= 0, "an integer >= 0"),
            ("solver_rounds", self.solver_rounds >= 0, "an integer >= 0"),
            ("lap_backend", self.lap_backend in LAP_BACKENDS, f"one of {LAP_BACKENDS}"),
            ("embedding_dim", self.embedding_dim >= 1, "an integer >= 1"),
            ("gcn_hidden_dim", self.gcn_hidden_dim >= 1, "an integer >= 1"),
            ("gcn_layers", self.gcn_layers >= 1, "an integer >= 1"),
            (
                "gcn_residual",
                residual_ok,
                f"gcn_hidden_dim == embedding_dim ({self.embedding_dim}) for z + GCN(z)",
            ),
            ("solver_kwargs", isinstance(self.solver_kwargs, dict), "a dict"),
        )
        for name, valid, expected in checks:
            if not valid:
                raise ValueError(
                    f"graph-matching option {name}={getattr(self, name)!r} is invalid: expected {expected}"
                )

    @classmethod
    def from_dict(cls, values: dict | None) -> GraphMatchingLossConfig:
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown graph-matching options {unknown}; expected some of {sorted(known)}")
        return cls(**values)

    @property
    def noise_scale(self) -> float:
        """Gumbel scale used in training (0 when the noise is off)."""
        return self.gumbel_scale if self.gumbel else 0.0


@dataclass
class GraphMatchingOutput:
    """loss: mean Hamming loss; matching_accuracy: 0-d device tensor (``float()`` of it syncs the host);
    matching: ``(G, n, n)``; solver_seconds: host wall-clock of the forward solve."""

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
    """LVM-Med's second-order graph-matching loss (holds the GCN). ``forward(z_s, z_t, y_s, y_t,
    boxes_s, boxes_t)``: ``(B, d)`` embeddings of the two views, ``(B, C, h, w)`` feature maps and
    ``(B, 4)`` crop boxes. Non-finite inputs raise ``ValueError`` at once or, when sync-free, in
    :meth:`raise_if_nonfinite`, which a training loop must call at its logging steps."""

    def __init__(self, config: GraphMatchingLossConfig | None = None, **overrides) -> None:
        super().__init__()
        config = config or GraphMatchingLossConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)  # runs __post_init__ again
        self.config = config
        self.gcn = None
        if config.message_passing:
            self.gcn = GraphConvolutionalNetwork(
                config.embedding_dim, config.gcn_hidden_dim, config.gcn_layers, config.gcn_residual
            )
        self._solvers: dict[bool, object] = {}
        self.timer = SolverTimer()
        self.finite_check = FiniteCheck()

    @property
    def solver(self):
        """The solver used on the CPU without sync-free mode (see :meth:`solver_for`)."""
        return self.solver_for(False)

    def solver_for(self, sync_free: bool):
        """The configured solver, built once per mode (sync-free solvers skip host-side checks)."""
        if sync_free in self._solvers:
            return self._solvers[sync_free]
        cfg = self.config
        mode = {"sync_free": sync_free, "check_inputs": not sync_free}
        if not cfg.second_order:
            solver = build_solver("linear", backend=cfg.lap_backend, **mode)
        else:
            defaults = {"lap_backend": cfg.lap_backend} if cfg.solver in _QUADRATIC_SOLVERS else {}
            if cfg.solver == "quadratic":
                defaults.update(restarts=cfg.solver_restarts, rounds=cfg.solver_rounds, **mode)
            solver = build_solver(cfg.solver, **{**defaults, **cfg.solver_kwargs})  # solver_kwargs win
        self._solvers[sync_free] = solver
        return solver

    def raise_if_nonfinite(self) -> None:
        """Raise ``ValueError`` if a NaN or inf reached the loss since the last call (one host read)."""
        self.finite_check.raise_if_nonfinite()

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
        sync_free = resolve_sync_free(cfg.sync_free, z_s.device)
        self.finite_check.deferred = sync_free
        cv, ce, graphs_s, graphs_t = self.affinities(z_s, z_t, y_s, y_t, boxes_s, boxes_t)
        n = cfg.graph_size
        noise = cfg.noise_scale if self.training else 0.0
        if self.training and noise == 0.0 and cfg.margin:
            # BB-GM (Rolinek et al., ECCV 2020): the gold matching must win by a margin
            cv = cv - cfg.margin * torch.eye(n, dtype=cv.dtype, device=cv.device)
        before = self.timer.seconds
        edges_s, edges_t = (graphs_s.edges, graphs_t.edges) if ce is not None else (None, None)
        x = blackbox_graph_matching(
            cv,
            ce,
            edges_s,
            edges_t,
            self.solver_for(sync_free),
            lam=cfg.blackbox_lambda,
            noise_scale=noise,
            generator=generator,
            timer=self.timer,
            finite_check=self.finite_check if sync_free else None,
        )
        return GraphMatchingOutput(
            loss=hamming_loss(x).mean(),
            matching_accuracy=x.detach().diagonal(dim1=1, dim2=2).mean(),
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
        """``cv (G, n, n)``, ``ce (G, nk, nk)`` (None when first order) and the two graph batches."""
        cfg = self.config
        check = self.finite_check
        if z_s.shape != z_t.shape or z_s.dim() != 2:
            raise ValueError(
                f"z_s and z_t must both be (batch, dim), got {tuple(z_s.shape)} and {tuple(z_t.shape)}"
            )
        z_s, z_t = check("z_s", z_s), check("z_t", z_t)
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
                    "local_similarity=True needs the feature maps y_s, y_t and the crop boxes "
                    "boxes_s, boxes_t"
                )
            pieces = (check("y_s", y_s), check("y_t", y_t), boxes_s, boxes_t)
            local = local_affinity(*(split_into_graphs(t, cfg.graph_size) for t in pieces), gamma=cfg.gamma)
        hs, ht = hs.float(), ht.float()
        cv = vertex_affinity(hs, ht, local, cfg.alpha)
        ce = edge_affinity(hs, ht, graphs_s.edges, graphs_t.edges) if cfg.second_order else None
        return cv, ce, graphs_s, graphs_t
