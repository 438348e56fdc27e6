"""Graph construction (LVM-Med Sec. 3.1): a batch is split into graphs of ``graph_size`` nodes
(paper: 16) and each node joined to its ``k`` nearest neighbours (paper: 5) in the embedding
space; the s-views and the t-views of the same images get their own kNN graphs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)


def split_into_graphs(x: torch.Tensor, graph_size: int) -> torch.Tensor:
    """Reshape a batch ``(B, ...)`` into ``(G, graph_size, ...)``, ``G = B // graph_size``; the
    leftover images are dropped from the loss (logged). ``ValueError`` if no graph fits."""
    if graph_size < 2:
        raise ValueError(f"graph_size must be >= 2, got {graph_size}")
    batch = x.shape[0]
    if batch < graph_size:
        raise ValueError(
            f"batch of {batch} images is smaller than one graph (graph_size={graph_size}): "
            f"use a per-device batch size that is a multiple of {graph_size}"
        )
    num_graphs, leftover = divmod(batch, graph_size)
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
    """A batch of kNN graphs. ``edges: (G, n*k, 2)`` long directed edges ``(i, j)``, row ``i*k + r``
    the r-th nearest neighbour of node i; ``adjacency: (G, n, n)`` float, ``A or A^T``, no self loops."""

    edges: torch.Tensor
    adjacency: torch.Tensor


def knn_graphs(z: torch.Tensor, k: int) -> KnnGraphs:
    """One kNN graph (Euclidean, no self loops, not differentiated) per ``z[g]: (n, d)``, ``1 <= k < n``."""
    if z.dim() != 3:
        raise ValueError(f"z must have shape (num_graphs, nodes, dim), got {tuple(z.shape)}")
    num_graphs, n, _ = z.shape
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 <= k < nodes per graph ({n}), got k={k}")
    with torch.no_grad():
        zf = z.detach().float()
        eye = torch.eye(n, dtype=torch.bool, device=z.device)
        dist = torch.cdist(zf, zf).masked_fill(eye, float("inf"))
        # topk on -dist; stable order keeps the construction deterministic for equal distances.
        nbrs = torch.topk(-dist, k, dim=-1, sorted=True).indices  # (G, n, k)
        src = torch.arange(n, device=z.device).view(1, n, 1).expand(num_graphs, n, k)
        edges = torch.stack([src.reshape(num_graphs, -1), nbrs.reshape(num_graphs, -1)], dim=-1)
        directed = torch.zeros(num_graphs, n, n, device=z.device, dtype=z.dtype)
        directed.scatter_(2, nbrs, 1.0)
        adjacency = torch.maximum(directed, directed.transpose(1, 2))
    return KnnGraphs(edges=edges, adjacency=adjacency)
