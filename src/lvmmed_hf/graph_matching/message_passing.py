"""Message passing over the kNN graphs: a GCN (Kipf & Welling, 2017), LVM-Med Eq. (1):
``H_l = sigma(D^-1/2 (A + I) D^-1/2 H_{l-1} W_l)``, ReLU between layers, none after the last;
the same network runs on G^s and G^t."""

from __future__ import annotations

import torch
from torch import nn


def normalized_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 (A + I) D^-1/2`` for a batch of adjacencies ``(G, n, n)``."""
    n = adjacency.shape[-1]
    a_hat = adjacency + torch.eye(n, dtype=adjacency.dtype, device=adjacency.device)
    d_inv_sqrt = a_hat.sum(-1).rsqrt()
    return d_inv_sqrt.unsqueeze(-1) * a_hat * d_inv_sqrt.unsqueeze(-2)


class GraphConvolutionalNetwork(nn.Module):
    """A GCN over batched dense graphs ``(G, n, in_dim) -> (G, n, hidden_dim)`` (paper: 128, 128, 2 layers).
    ``residual`` (not in the paper): ``z + GCN(z)``, since two averaging rounds over a 16-node k = 5 graph
    make a random network's node embeddings nearly equal (over-smoothing)."""

    def __init__(
        self, in_dim: int = 128, hidden_dim: int = 128, num_layers: int = 2, residual: bool = False
    ) -> None:
        super().__init__()
        if residual and in_dim != hidden_dim:
            raise ValueError(f"a residual GCN needs in_dim == hidden_dim, got {in_dim} and {hidden_dim}")
        self.residual = residual
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden_dim] * num_layers
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        a_norm = normalized_adjacency(adjacency.to(h.dtype))
        h_in = h
        for index, layer in enumerate(self.layers):
            h = a_norm @ layer(h)
            if index < len(self.layers) - 1:
                h = torch.relu(h)
        return h_in + h if self.residual else h
