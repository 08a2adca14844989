from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.losses import cosine_distance, triplet_margin


def _cos_dist(x, y):
    dot = sum(a * b for a, b in zip(x, y))
    return 1.0 - dot / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(b * b for b in y)))


def _l2(x, y):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(x, y)))


def _reference(a, p, n, margin, dist):
    """Loop-based triplet loss over python lists, written independently of the library."""
    terms = [max(0.0, dist(ai, pi) - dist(ai, ni) + margin) for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist())]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("batch,dim", [(1, 3), (4, 8), (9, 16)])
@pytest.mark.parametrize("margin", [0.0, 0.5, 1.5])
def test_cosine_matches_reference(batch, dim, margin):
    g = torch.Generator().manual_seed(batch + dim)
    a, p, n = (torch.randn(batch, dim, generator=g, dtype=torch.float64) for _ in range(3))
    got = triplet_margin(a, p, n, margin=margin)
    assert got.item() == pytest.approx(_reference(a, p, n, margin, _cos_dist), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("batch,dim", [(2, 4), (6, 8)])
def test_euclidean_matches_reference_and_torch(batch, dim):
    g = torch.Generator().manual_seed(batch)
    a, p, n = (torch.randn(batch, dim, generator=g, dtype=torch.float64) for _ in range(3))
    got = triplet_margin(a, p, n, margin=0.5, distance="euclidean")
    assert got.item() == pytest.approx(_reference(a, p, n, 0.5, _l2), rel=1e-5)
    # DSM's public code: nn.TripletMarginLoss(margin=0.5, p=2)
    torch.testing.assert_close(got, torch.nn.TripletMarginLoss(margin=0.5, p=2)(a, p, n))


def test_hand_worked_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # cosine distance 0, then 1
    n = torch.tensor([[0.0, 3.0], [1.0, 1.0]])  # cosine distance 1, then 1 - 1/sqrt(2)
    # row 0: max(0, 0 - 1 + 0.5) = 0; row 1: 1 - (1 - 1/sqrt 2) + 0.5 = 0.5 + 1/sqrt 2
    want = (0.0 + 0.5 + 1 / math.sqrt(2)) / 2
    assert triplet_margin(a, p, n).item() == pytest.approx(want, rel=1e-6)
    torch.testing.assert_close(cosine_distance(a, n), torch.tensor([1.0, 1 - 1 / math.sqrt(2)]))


def test_symmetries():
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(5, 8, generator=g) for _ in range(3))
    base = triplet_margin(a, p, n)
    perm = torch.randperm(5, generator=g)
    torch.testing.assert_close(base, triplet_margin(a[perm], p[perm], n[perm]))
    torch.testing.assert_close(base, triplet_margin(2 * a, 0.1 * p, 7 * n))  # cosine: scale-free
    # swapping positive and negative mirrors the hinge: L(a,p,n) - L(a,n,p) = mean(d_ap - d_an) at margin 0
    diff = triplet_margin(a, p, n, margin=0.0) - triplet_margin(a, n, p, margin=0.0)
    torch.testing.assert_close(diff, (cosine_distance(a, p) - cosine_distance(a, n)).mean())


def test_rejects_bad_arguments():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="margin"):
        triplet_margin(x, x, x, margin=-0.1)
    with pytest.raises(ValueError, match="distance"):
        triplet_margin(x, x, x, distance="manhattan")
    with pytest.raises(ValueError, match="anchor"):
        triplet_margin(x, x, torch.randn(3, 3))


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_loss_falls_under_sgd(distance):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(8, 16))
    p = torch.nn.Parameter(torch.randn(8, 16))
    n = torch.nn.Parameter(torch.randn(8, 16))
    opt = torch.optim.SGD([a, p, n], lr=0.5)
    losses = []
    for _ in range(20):
        loss = triplet_margin(a, p, n, margin=0.5, distance=distance)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]


def test_normalize_makes_the_loss_scale_free():
    """DSM / BE reference models end in Normalize(2): norms cannot meet the margin."""
    g = torch.Generator().manual_seed(1)
    a, p, n = (torch.randn(6, 8, generator=g) for _ in range(3))
    base = triplet_margin(a, p, n, distance="euclidean", normalize=True)
    torch.testing.assert_close(triplet_margin(50 * a, 50 * p, 50 * n, distance="euclidean", normalize=True), base)
    unit = [torch.nn.functional.normalize(v, dim=1) for v in (a, p, n)]
    torch.testing.assert_close(base, triplet_margin(*unit, distance="euclidean"))
    # without it, scaling the embeddings changes the loss (the bug of the unnormalised variant)
    assert float(triplet_margin(50 * a, 50 * p, 50 * n, distance="euclidean")) != pytest.approx(
        float(triplet_margin(a, p, n, distance="euclidean")))
