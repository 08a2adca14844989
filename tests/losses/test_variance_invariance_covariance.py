from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.losses import covariance, invariance, variance, variance_invariance_covariance


def _reference(z1, z2, w_inv=25.0, w_var=25.0, w_cov=1.0, gamma=1.0, eps=1e-4):
    """VICReg by explicit loops in numpy float64."""
    a, b = z1.numpy().astype(np.float64), z2.numpy().astype(np.float64)
    n, d = a.shape
    inv = sum((a[k, j] - b[k, j]) ** 2 for k in range(n) for j in range(d)) / (n * d)

    def var_term(x):
        tot = 0.0
        for j in range(d):
            m = sum(x[:, j]) / n
            v = sum((x[k, j] - m) ** 2 for k in range(n)) / (n - 1)
            tot += max(0.0, gamma - math.sqrt(v + eps))
        return tot / d

    def cov_term(x):
        xc = x - x.mean(0)
        tot = 0.0
        for i in range(d):
            for j in range(d):
                if i != j:
                    tot += (sum(xc[k, i] * xc[k, j] for k in range(n)) / (n - 1)) ** 2
        return tot / d

    return w_inv * inv + w_var * (var_term(a) + var_term(b)) / 2 + w_cov * (cov_term(a) + cov_term(b))


@pytest.mark.parametrize("batch,dim", [(2, 3), (5, 4), (16, 8)])
def test_matches_reference(batch, dim):
    g = torch.Generator().manual_seed(batch * dim)
    z1, z2 = 0.5 * torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    got = variance_invariance_covariance(z1.double(), z2.double())
    assert got.item() == pytest.approx(_reference(z1, z2), rel=1e-9)
    got = variance_invariance_covariance(z1.double(), z2.double(), inv_weight=1.0, var_weight=2.0, cov_weight=3.0)
    assert got.item() == pytest.approx(_reference(z1, z2, 1.0, 2.0, 3.0), rel=1e-9)


def test_hand_worked_terms():
    # two samples (0, 0) and (2, 2): variance 2 per dimension (N - 1 = 1), std sqrt(2 + eps)
    z = torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    assert variance(z, eps=0.0).item() == pytest.approx(0.0)  # std sqrt 2 > gamma 1: no hinge
    assert variance(z / 4, eps=0.0).item() == pytest.approx(1 - math.sqrt(2) / 4)
    # C = [[2, 2], [2, 2]]: off-diagonal 2 * 2^2 / D = 4
    assert covariance(z).item() == pytest.approx(4.0)
    assert invariance(z, z + 1).item() == pytest.approx(1.0)
    # the terms by scope: variance and covariance over the given global batch
    total = variance_invariance_covariance(z, z, z1_all=z / 4, z2_all=z / 4)
    # z / 4: variance 2 / 16 (std sqrt(0.125 + eps)), covariance term 4 / 16^2 per view; no invariance
    assert total.item() == pytest.approx(25 * (1 - math.sqrt(0.125 + 1e-4)) + 2 * 4.0 / 256, rel=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="N >= 2"):
        variance(torch.randn(1, 3))
    with pytest.raises(ValueError, match="both be"):
        invariance(torch.randn(2, 3), torch.randn(3, 3))


def test_loss_falls():
    g = torch.Generator().manual_seed(0)
    z1 = (0.1 * torch.randn(32, 8, generator=g)).requires_grad_()
    z2 = (0.1 * torch.randn(32, 8, generator=g)).requires_grad_()
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    losses = []
    for _ in range(100):
        loss = variance_invariance_covariance(z1, z2)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.01 * losses[0]
