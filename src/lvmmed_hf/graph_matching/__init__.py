"""LVM-Med's second-order graph-matching loss as testable pieces: graphs (kNN) -> message_passing
(GCN, Eq. 1) -> affinities (Eq. 2-3) -> solvers (QAP / LAP) -> estimator (Alg. 1) -> loss (Hamming)."""

from .affinities import edge_affinity, global_affinity, local_affinity, vertex_affinity
from .estimator import BlackboxGraphMatching, FiniteCheck, SolverTimer, blackbox_graph_matching
from .graphs import KnnGraphs, knn_graphs, split_into_graphs
from .loss import GraphMatchingLoss, GraphMatchingLossConfig, GraphMatchingOutput, hamming_loss
from .message_passing import GraphConvolutionalNetwork, normalized_adjacency
from .solvers import (
    SOLVERS,
    BruteForceSolver,
    LinearAssignmentSolver,
    LpmpSolver,
    PygmtoolsSolver,
    QuadraticSolver,
    SolverError,
    build_solver,
    complete_partial_matching,
    lawler_matrix,
    linear_assignment,
    lpmp_labeling_to_matrix,
    pair_indicators,
    qap_objective,
    two_opt,
)

__all__ = [
    "edge_affinity",
    "global_affinity",
    "local_affinity",
    "vertex_affinity",
    "BlackboxGraphMatching",
    "FiniteCheck",
    "SolverTimer",
    "blackbox_graph_matching",
    "KnnGraphs",
    "knn_graphs",
    "split_into_graphs",
    "GraphMatchingLoss",
    "GraphMatchingLossConfig",
    "GraphMatchingOutput",
    "hamming_loss",
    "GraphConvolutionalNetwork",
    "normalized_adjacency",
    "SOLVERS",
    "BruteForceSolver",
    "LinearAssignmentSolver",
    "LpmpSolver",
    "PygmtoolsSolver",
    "QuadraticSolver",
    "SolverError",
    "build_solver",
    "complete_partial_matching",
    "lpmp_labeling_to_matrix",
    "lawler_matrix",
    "linear_assignment",
    "pair_indicators",
    "qap_objective",
    "two_opt",
]
