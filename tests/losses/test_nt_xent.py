from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.losses import nt_xent


def _reference(z1, z2, temperature):
    """SimCLR loss by explicit loops in numpy float64, independent of the library."""
    z = np.concatenate([z1.numpy(), z2.numpy()]).astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z)
    b = n // 2
    total = 0.0
    for i in range(n):
        j = (i + b) % n
        num = math.exp(float(z[i] @ z[j]) / temperature)
        den = sum(math.exp(float(z[i] @ z[m]) / temperature) for m in range(n) if m != i)
        total += -math.log(num / den)
    return total / n


@pytest.mark.parametrize("batch,dim", [(1, 3), (2, 4), (5, 8), (16, 32)])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_matches_reference(batch, dim, temperature):
    g = torch.Generator().manual_seed(batch * dim)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    got = nt_xent(z1.double(), z2.double(), temperature=temperature)
    assert got.item() == pytest.approx(_reference(z1, z2, temperature), rel=1e-9, abs=1e-12)


def test_hand_worked_values():
    eye = torch.eye(2)
    # each anchor: one positive at similarity 1, two candidates at 0 -> log(1 + 2/e)
    assert nt_xent(eye, eye, temperature=1.0).item() == pytest.approx(math.log(1 + 2 / math.e), rel=1e-6)
    # a batch of one has no negatives: the loss is exactly zero whatever the views
    assert nt_xent(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), temperature=0.1).item() == pytest.approx(0.0, abs=1e-7)


def test_symmetric_in_views_and_batch_order():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    base = nt_xent(z1, z2, temperature=0.2)
    torch.testing.assert_close(base, nt_xent(z2, z1, temperature=0.2))
    perm = torch.randperm(6, generator=g)
    torch.testing.assert_close(base, nt_xent(z1[perm], z2[perm], temperature=0.2))
    torch.testing.assert_close(base, nt_xent(3 * z1, 0.5 * z2, temperature=0.2))


def test_normalize_false_and_finite_gradients():
    z1 = torch.randn(4, 8, requires_grad=True)
    z2 = torch.randn(4, 8, requires_grad=True)
    loss = nt_xent(z1, z2, temperature=0.5, normalize=False)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(2, 3), torch.randn(2, 3), temperature=-1.0)
    with pytest.raises(ValueError, match="z1 and z2"):
        nt_xent(torch.randn(2, 3), torch.randn(3, 3), temperature=0.1)


def test_loss_falls_under_sgd():
    torch.manual_seed(0)
    z1 = torch.nn.Parameter(torch.randn(8, 16))
    z2 = torch.nn.Parameter(torch.randn(8, 16))
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    losses = []
    for _ in range(20):
        loss = nt_xent(z1, z2, temperature=0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]
