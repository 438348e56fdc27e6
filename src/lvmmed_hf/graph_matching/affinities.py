"""Vertex and edge affinities between the s-graph and the t-graph (LVM-Med Eq. 2-3 and Sec. 3.2),
batched over ``G`` graph pairs of ``n`` nodes; affinities are similarities (the solver maximises).
Crop boxes: ``(x_left, y_top, x_right, y_bottom)`` in normalised original-image coordinates, with
x_left / x_right the original x of the view's left / right border (flipped view: ``x_left >
x_right``), so view -> original image is one affine map for flipped and unflipped views."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def global_affinity(zs: torch.Tensor, zt: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity of every node pair: ``(G, n, d), (G, m, d) -> (G, n, m)``."""
    return F.normalize(zs, dim=-1, eps=eps) @ F.normalize(zt, dim=-1, eps=eps).transpose(1, 2)


def feature_map_positions(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Original-image (x, y) of the cell centres of a ``height x width`` feature map, row-major:
    ``boxes: (..., 4)`` -> ``(..., height * width, 2)``."""
    dtype, device = boxes.dtype, boxes.device
    v = (torch.arange(height, dtype=dtype, device=device) + 0.5) / height
    u = (torch.arange(width, dtype=dtype, device=device) + 0.5) / width
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    uu, vv = uu.reshape(-1), vv.reshape(-1)
    x0, y0, x1, y1 = boxes.unbind(-1)
    x = x0.unsqueeze(-1) + uu * (x1 - x0).unsqueeze(-1)
    y = y0.unsqueeze(-1) + vv * (y1 - y0).unsqueeze(-1)
    return torch.stack([x, y], dim=-1)


def _directed_local_affinity(
    fs: torch.Tensor, ft: torch.Tensor, ps: torch.Tensor, pt: torch.Tensor, n: int, gamma: int, eps: float
) -> torch.Tensor:
    """Local similarity from view s (``fs (G, n*P, C)``, ``ps (G, n*P, 2)``) to view t: ``(G, n, n)``."""
    num_graphs, p, q = fs.shape[0], fs.shape[1] // n, ft.shape[1] // n
    dot = fs @ ft.transpose(1, 2)  # (G, nP, nQ)
    sq_s, sq_t = fs.pow(2).sum(-1), ft.pow(2).sum(-1)
    cos = dot / (sq_s.clamp_min(eps).sqrt().unsqueeze(-1) * sq_t.clamp_min(eps).sqrt().unsqueeze(-2))
    # (G, nP, nQ) -> (G, n, P, n, Q) -> (G, n_s, n_t, P, Q)
    cos = cos.view(num_graphs, n, p, n, q).permute(0, 1, 3, 2, 4)
    with torch.no_grad():
        sq_dist = (sq_s.unsqueeze(-1) + sq_t.unsqueeze(-2) - 2 * dot.detach()).view(num_graphs, n, p, n, q)
        feature_match = sq_dist.permute(0, 1, 3, 2, 4).argmin(-1, keepdim=True)
        loc_dist = torch.cdist(ps, pt).view(num_graphs, n, p, n, q).permute(0, 1, 3, 2, 4)
        location_match = loc_dist.argmin(-1, keepdim=True)
    location_cos = cos.gather(-1, location_match).squeeze(-1)  # (G, n, n, P)
    feature_cos = cos.gather(-1, feature_match).squeeze(-1)
    k = min(gamma, p)  # the gamma best-scoring positions of each kind
    return 0.5 * (location_cos.topk(k, dim=-1).values.mean(-1) + feature_cos.topk(k, dim=-1).values.mean(-1))


def local_affinity(
    ys: torch.Tensor,
    yt: torch.Tensor,
    boxes_s: torch.Tensor,
    boxes_t: torch.Tensor,
    gamma: int = 20,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Local similarity (Eq. 3) ``(G, n, n)`` of feature maps ``(G, n, C, h, w)``: each position of ``ys[i]``
    matched in ``yt[a]`` by location (via the boxes; frames of different images taken as aligned) and by
    feature (L2), cosine-scored; mean of the ``gamma`` best per kind, of both kinds, of s->t and t->s."""
    if ys.dim() != 5 or yt.dim() != 5:
        raise ValueError(f"feature maps must be (G, n, C, h, w), got {tuple(ys.shape)} and {tuple(yt.shape)}")
    if boxes_s.shape[:2] != ys.shape[:2] or boxes_t.shape[:2] != yt.shape[:2] or boxes_s.shape[-1] != 4:
        raise ValueError(
            "boxes must be (G, n, 4) matching the feature maps, got "
            f"{tuple(boxes_s.shape)} and {tuple(boxes_t.shape)}"
        )
    num_graphs, n, c, hs, ws = ys.shape
    _, _, _, ht, wt = yt.shape
    fs = ys.float().permute(0, 1, 3, 4, 2).reshape(num_graphs, n * hs * ws, c)
    ft = yt.float().permute(0, 1, 3, 4, 2).reshape(num_graphs, n * ht * wt, c)
    ps = feature_map_positions(boxes_s.float(), hs, ws).reshape(num_graphs, n * hs * ws, 2)
    pt = feature_map_positions(boxes_t.float(), ht, wt).reshape(num_graphs, n * ht * wt, 2)
    st = _directed_local_affinity(fs, ft, ps, pt, n, gamma, eps)
    ts = _directed_local_affinity(ft, fs, pt, ps, n, gamma, eps)
    return 0.5 * (st + ts.transpose(1, 2))


def vertex_affinity(
    zs: torch.Tensor, zt: torch.Tensor, local: torch.Tensor | None = None, alpha: float = 0.8
) -> torch.Tensor:
    """``c^v = alpha * cos(zs_i, zt_a) + (1 - alpha) * local(i, a)`` (Eq. 2; ``local=None``: cosine only)."""
    glob = global_affinity(zs, zt)
    return glob if local is None else alpha * glob + (1.0 - alpha) * local


def edge_affinity(
    zs: torch.Tensor, zt: torch.Tensor, edges_s: torch.Tensor, edges_t: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """Second-order affinity ``c^e[(i,j),(a,b)] = cos(zs_i - zs_j, zt_a - zt_b)``: ``zs, zt:
    (G, n, d)``, ``edges_s, edges_t: (G, E, 2)`` directed edges -> ``(G, E_s, E_t)``."""
    return global_affinity(_edge_vectors(zs, edges_s), _edge_vectors(zt, edges_t), eps)


def _edge_vectors(z: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    d = z.shape[-1]
    return z.gather(1, edges[..., 0:1].expand(-1, -1, d)) - z.gather(1, edges[..., 1:2].expand(-1, -1, d))
