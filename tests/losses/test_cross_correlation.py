from __future__ import annotations

import numpy as np
import pytest
import torch

from vssl.losses import cross_correlation, cross_correlation_loss, off_diagonal, on_diagonal


def _reference(z1, z2, lambd, eps=1e-5):
    """Barlow Twins loss by explicit loops in numpy float64."""
    a, b = z1.numpy().astype(np.float64), z2.numpy().astype(np.float64)
    n, d = a.shape
    a = (a - a.mean(0)) / np.sqrt(a.var(0) + eps)
    b = (b - b.mean(0)) / np.sqrt(b.var(0) + eps)
    total = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[k, i] * b[k, j] for k in range(n)) / n
            total += (1 - c) ** 2 if i == j else lambd * c ** 2
    return total


@pytest.mark.parametrize("batch,dim", [(2, 3), (5, 4), (16, 8)])
@pytest.mark.parametrize("lambd", [0.0, 0.0051, 1.0])
def test_matches_reference(batch, dim, lambd):
    g = torch.Generator().manual_seed(batch * dim)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    got = cross_correlation_loss(z1.double(), z2.double(), lambd=lambd)
    assert got.item() == pytest.approx(_reference(z1, z2, lambd), rel=1e-9)


def test_hand_worked_values():
    # z1 = z2 = two samples (+1, -1) / (-1, +1) in D = 2: standardised they are unchanged,
    # C = [[1, -1], [-1, 1]] (up to eps): on-diagonal 0, off-diagonal 2
    z = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    c = cross_correlation(z, z, eps=0.0)
    torch.testing.assert_close(c, torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64))
    assert on_diagonal(c).item() == pytest.approx(0.0)
    assert off_diagonal(c).item() == pytest.approx(2.0)
    assert cross_correlation_loss(z, z, lambd=0.5, eps=0.0).item() == pytest.approx(1.0)
    # anti-correlated views: C = -I on the diagonal -> (1 - (-1))^2 per dimension
    assert on_diagonal(cross_correlation(z, -z, eps=0.0)).item() == pytest.approx(8.0)


def test_symmetric_and_errors():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    torch.testing.assert_close(cross_correlation_loss(z1, z2, lambd=0.1), cross_correlation_loss(z2, z1, lambd=0.1))
    with pytest.raises(ValueError, match="at least 2"):
        cross_correlation_loss(z1[:1], z2[:1], lambd=0.1)
    with pytest.raises(ValueError, match="lambd"):
        cross_correlation_loss(z1, z2, lambd=-1.0)


def test_loss_falls():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(32, 8, generator=g).requires_grad_()
    z2 = torch.randn(32, 8, generator=g).requires_grad_()
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    losses = []
    for _ in range(60):
        loss = cross_correlation_loss(z1, z2, lambd=0.0051)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.1 * losses[0]
