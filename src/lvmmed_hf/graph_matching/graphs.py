"""Graph construction: split a batch into independent graphs and connect each node to its kNN.

LVM-Med (Nguyen et al., NeurIPS 2023), Sec. 3.1: the images of a batch are split into graphs of
``graph_size`` nodes (16 in the paper); inside a graph every node is joined to its ``k`` nearest
neighbours (k = 5) in the projected embedding space. One graph is built over the s-views and one
over the t-views of the same images, each with its own kNN structure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)


def split_into_graphs(x: torch.Tensor, graph_size: int) -> torch.Tensor:
    """Reshape a batch ``(B, ...)`` into ``(G, graph_size, ...)`` with ``G = B // graph_size``.

    Leftover images (``B mod graph_size``) are dropped (logged): they are in no graph, so they
    take no part in the loss. Raises ``ValueError`` if the batch cannot hold one graph.
    """
    if graph_size < 2:
        raise ValueError(f"graph_size must be >= 2, got {graph_size}")
    batch = x.shape[0]
    if batch < graph_size:
        raise ValueError(
            f"batch of {batch} images is smaller than one graph (graph_size={graph_size}): "
            f"use a per-device batch size that is a multiple of {graph_size}"
        )
    num_graphs = batch // graph_size
    leftover = batch - num_graphs * graph_size
    if leftover:
        logger.warning(
            "batch of %d images: %d leftover images (batch mod graph_size=%d) are left out of the loss",
            batch,
            leftover,
            graph_size,
        )
    return x[: num_graphs * graph_size].reshape(num_graphs, graph_size, *x.shape[1:])


@dataclass
class KnnGraphs:
    """A batch of kNN graphs with the same node count and out-degree.

    Attributes:
        edges: ``(G, n*k, 2)`` long, directed edges ``(i, j)``: ``j`` is among the k nearest
            neighbours of ``i``. Row ``i*k + r`` is the r-th nearest neighbour of node ``i``.
        adjacency: ``(G, n, n)`` float, symmetrised 0/1 adjacency (``A or A^T``), no self loops.
    """

    edges: torch.Tensor
    adjacency: torch.Tensor

    @property
    def num_edges(self) -> int:
        return self.edges.shape[1]


def knn_graphs(z: torch.Tensor, k: int) -> KnnGraphs:
    """Build one kNN graph per group of nodes (Euclidean distance, no self loops).

    Args:
        z: ``(G, n, d)`` node embeddings; the graph structure is not differentiated.
        k: neighbours per node, ``1 <= k < n``.
    """
    if z.dim() != 3:
        raise ValueError(f"z must have shape (num_graphs, nodes, dim), got {tuple(z.shape)}")
    num_graphs, n, _ = z.shape
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 <= k < nodes per graph ({n}), got k={k}")
    with torch.no_grad():
        zf = z.detach().float()
        dist = torch.cdist(zf, zf)
        eye = torch.eye(n, dtype=torch.bool, device=z.device)
        dist = dist.masked_fill(eye, float("inf"))
        # topk on -dist; stable order keeps the construction deterministic for equal distances.
        nbrs = torch.topk(-dist, k, dim=-1, sorted=True).indices  # (G, n, k)
        src = torch.arange(n, device=z.device).view(1, n, 1).expand(num_graphs, n, k)
        edges = torch.stack([src.reshape(num_graphs, -1), nbrs.reshape(num_graphs, -1)], dim=-1)
        directed = torch.zeros(num_graphs, n, n, device=z.device, dtype=z.dtype)
        directed.scatter_(2, nbrs, 1.0)
        adjacency = torch.maximum(directed, directed.transpose(1, 2))
    return KnnGraphs(edges=edges, adjacency=adjacency)
