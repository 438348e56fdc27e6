"""Graph construction, GCN and affinities against plain loop / numpy references."""

import itertools

import numpy as np
import pytest
import torch

from lvmmed_hf.graph_matching import (
    GraphConvolutionalNetwork,
    edge_affinity,
    global_affinity,
    knn_graphs,
    local_affinity,
    normalized_adjacency,
    split_into_graphs,
)
from lvmmed_hf.graph_matching.affinities import feature_map_positions


def test_split_into_graphs_drops_leftovers_and_rejects_small_batches():
    x = torch.arange(37).float().unsqueeze(1)
    g = split_into_graphs(x, 16)
    assert g.shape == (2, 16, 1)
    assert g[1, 0, 0] == 16
    with pytest.raises(ValueError, match="smaller than one graph"):
        split_into_graphs(torch.zeros(15, 3), 16)


def test_knn_graphs_match_a_loop_reference():
    torch.manual_seed(0)
    z = torch.randn(3, 10, 4)
    graphs = knn_graphs(z, 3)
    assert graphs.edges.shape == (3, 30, 2)
    for g in range(3):
        zn = z[g].numpy()
        for i in range(10):
            d = [(np.linalg.norm(zn[i] - zn[j]), j) for j in range(10) if j != i]
            expected = {j for _, j in sorted(d)[:3]}
            got = {int(e[1]) for e in graphs.edges[g] if int(e[0]) == i}
            assert got == expected
        a = graphs.adjacency[g].numpy()
        assert np.all(np.diag(a) == 0)
        assert np.array_equal(a, a.T)
        for i, j in graphs.edges[g].tolist():
            assert a[i, j] == 1 and a[j, i] == 1
    with pytest.raises(ValueError, match="k must satisfy"):
        knn_graphs(z, 10)


def test_gcn_is_eq1():
    torch.manual_seed(0)
    a = (torch.rand(2, 6, 6) > 0.5).float()
    a = torch.maximum(a, a.transpose(1, 2)) * (1 - torch.eye(6))
    h = torch.randn(2, 6, 5)
    gcn = GraphConvolutionalNetwork(5, 7, 2)
    out = gcn(h, a)
    for g in range(2):
        an = a[g].numpy() + np.eye(6)
        d = np.diag(an.sum(1) ** -0.5)
        norm = d @ an @ d
        np.testing.assert_allclose(normalized_adjacency(a)[g].numpy(), norm, rtol=1e-5)
        w1 = gcn.layers[0].weight.detach().numpy().T
        w2 = gcn.layers[1].weight.detach().numpy().T
        ref = norm @ np.maximum(norm @ h[g].numpy() @ w1, 0) @ w2
        np.testing.assert_allclose(out[g].detach().numpy(), ref, rtol=1e-4, atol=1e-5)


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_global_and_edge_affinities_match_loops():
    torch.manual_seed(1)
    zs, zt = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    es, et = knn_graphs(zs, 2).edges, knn_graphs(zt, 2).edges
    glob = global_affinity(zs, zt)
    edge = edge_affinity(zs, zt, es, et)
    assert edge.shape == (2, 10, 10)
    for g in range(2):
        s, t = zs[g].numpy(), zt[g].numpy()
        for i, a in itertools.product(range(5), range(5)):
            assert glob[g, i, a].item() == pytest.approx(_cos(s[i], t[a]), abs=1e-5)
        for e, (i, j) in enumerate(es[g].tolist()):
            for f, (a, b) in enumerate(et[g].tolist()):
                assert edge[g, e, f].item() == pytest.approx(_cos(s[i] - s[j], t[a] - t[b]), abs=1e-5)


def test_positions_follow_the_crop_box_and_a_mirrored_box_flips_them():
    box = torch.tensor([0.2, 0.4, 0.6, 0.8])
    pos = feature_map_positions(box, 2, 2)
    np.testing.assert_allclose(pos.numpy(), [[0.3, 0.5], [0.5, 0.5], [0.3, 0.7], [0.5, 0.7]], atol=1e-6)
    flipped = feature_map_positions(torch.tensor([0.6, 0.4, 0.2, 0.8]), 2, 2)
    np.testing.assert_allclose(flipped.numpy(), [[0.5, 0.5], [0.3, 0.5], [0.5, 0.7], [0.3, 0.7]], atol=1e-6)


def _local_reference(ys, yt, bs, bt, gamma):
    """Loop implementation of the local term for one graph (numpy, float64)."""
    n, c, h, w = ys.shape

    def positions(box):
        x0, y0, x1, y1 = box
        return np.array(
            [
                [x0 + (u + 0.5) / w * (x1 - x0), y0 + (v + 0.5) / h * (y1 - y0)]
                for v in range(h)
                for u in range(w)
            ]
        )

    def directed(fa, fb, ba, bb):
        out = np.zeros((n, n))
        for i, a in itertools.product(range(n), range(n)):
            qa = fa[i].reshape(c, -1).T
            qb = fb[a].reshape(c, -1).T
            pa, pb = positions(ba[i]), positions(bb[a])
            loc, feat = [], []
            for p in range(len(qa)):
                jl = np.argmin(((pb - pa[p]) ** 2).sum(1))
                jf = np.argmin(((qb - qa[p]) ** 2).sum(1))
                loc.append(_cos(qa[p], qb[jl]))
                feat.append(_cos(qa[p], qb[jf]))
            top = lambda v: np.mean(sorted(v, reverse=True)[:gamma])  # noqa: E731
            out[i, a] = 0.5 * (top(loc) + top(feat))
        return out

    return 0.5 * (directed(ys, yt, bs, bt) + directed(yt, ys, bt, bs).T)


def test_local_affinity_matches_a_loop_reference():
    torch.manual_seed(2)
    n, c, h, w = 4, 6, 3, 3
    ys, yt = torch.randn(1, n, c, h, w), torch.randn(1, n, c, h, w)
    bs = torch.rand(1, n, 4)
    bt = torch.rand(1, n, 4)
    out = local_affinity(ys, yt, bs, bt, gamma=4)
    ref = _local_reference(
        ys[0].double().numpy(), yt[0].double().numpy(), bs[0].double().numpy(), bt[0].double().numpy(), 4
    )
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-5)


def test_local_affinity_rewards_the_same_image_seen_through_two_crops():
    """Two crops of one feature map: location matches land on identical features (cos = 1)."""
    torch.manual_seed(3)
    base = torch.randn(4, 8, 4, 4)  # 4 images, 4x4 maps
    ys = base[:, :, :2, :].unsqueeze(0)  # top half
    yt = base[:, :, 1:3, :].unsqueeze(0)  # rows 1..2
    bs = torch.tensor([0.0, 0.0, 1.0, 0.5]).repeat(1, 4, 1)
    bt = torch.tensor([0.0, 0.25, 1.0, 0.75]).repeat(1, 4, 1)
    loc = local_affinity(ys, yt, bs, bt, gamma=4)[0]
    assert torch.all(loc.diagonal() > 0.99)
    off = loc[~torch.eye(4, dtype=torch.bool)]
    assert torch.all(off < loc.diagonal().min())


def test_residual_gcn_adds_its_input():
    torch.manual_seed(0)
    a = (torch.rand(2, 6, 6) > 0.5).float()
    a = torch.maximum(a, a.transpose(1, 2)) * (1 - torch.eye(6))
    h = torch.randn(2, 6, 5)
    plain = GraphConvolutionalNetwork(5, 5, 2)
    residual = GraphConvolutionalNetwork(5, 5, 2, residual=True)
    residual.load_state_dict(plain.state_dict())
    torch.testing.assert_close(residual(h, a), h + plain(h, a))
    with pytest.raises(ValueError, match="in_dim == hidden_dim"):
        GraphConvolutionalNetwork(5, 7, 2, residual=True)
