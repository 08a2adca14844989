from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.losses import negative_cosine, normalized_mse


def _reference(p, z):
    """-mean cos by explicit loops in numpy float64."""
    p, z = p.numpy().astype(np.float64), z.numpy().astype(np.float64)
    cos = [float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in zip(p, z)]
    return -sum(cos) / len(cos)


@pytest.mark.parametrize("batch,dim", [(1, 2), (3, 5), (16, 32)])
def test_matches_reference(batch, dim):
    g = torch.Generator().manual_seed(batch + dim)
    p, z = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    assert negative_cosine(p.double(), z.double()).item() == pytest.approx(_reference(p, z), rel=1e-9)
    assert normalized_mse(p.double(), z.double()).item() == pytest.approx(2 + 2 * _reference(p, z), rel=1e-9)


def test_hand_worked_values():
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[2.0, 0.0], [-1.0, 0.0]])
    # cos = 1 and -1/sqrt(2): loss = -(1 - 0.7071) / 2
    assert negative_cosine(p, z).item() == pytest.approx(-(1 - 1 / math.sqrt(2)) / 2, rel=1e-6)
    # ||p/|p| - z/|z|||^2 = 0 and 2 + sqrt(2): mean (2 + sqrt 2) / 2
    assert normalized_mse(p, z).item() == pytest.approx((2 + math.sqrt(2)) / 2, rel=1e-6)


def test_stop_gradient_on_the_target_and_shape_error():
    p = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 3, requires_grad=True)
    negative_cosine(p, z).backward()
    assert p.grad is not None and z.grad is None
    with pytest.raises(ValueError, match="both be"):
        negative_cosine(torch.randn(4, 3), torch.randn(4, 2))


def test_loss_falls():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(8, 16, generator=g).requires_grad_()
    z = torch.randn(8, 16, generator=g)
    opt = torch.optim.SGD([p], lr=20.0)  # the gradient scales with 1 / (B |p|)
    first = None
    for _ in range(50):
        loss = normalized_mse(p, z)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
