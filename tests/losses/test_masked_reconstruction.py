"""Masked reconstruction: patchify, per-patch normalised pixels, MSE on masked patches."""

from __future__ import annotations

import pytest
import torch

from vssl.losses import masked_mse, normalize_patches, patchify


def _reference_patchify(x, patch):
    """Loop version: token (i, j, k) = the values x[:, :, i*pt:(i+1)*pt, ...] in (t, h, w, C) order."""
    b, c, t, h, w = x.shape
    pt, ph, pw = patch
    rows = []
    for i in range(t // pt):
        for j in range(h // ph):
            for k in range(w // pw):
                cube = x[:, :, i * pt:(i + 1) * pt, j * ph:(j + 1) * ph, k * pw:(k + 1) * pw]  # (B, C, pt, ph, pw)
                rows.append(cube.permute(0, 2, 3, 4, 1).reshape(b, -1))
    return torch.stack(rows, 1)


def _reference_loss(pred, target, mask, eps=1e-6):
    num, den = 0.0, 0
    for bi in range(pred.shape[0]):
        for n in range(pred.shape[1]):
            if mask[bi, n]:
                tgt = target[bi, n]
                tgt = (tgt - tgt.mean()) / torch.sqrt(((tgt - tgt.mean()) ** 2).mean() + eps)
                num += float(((pred[bi, n] - tgt) ** 2).mean())
                den += 1
    return num / den


@pytest.mark.parametrize("patch", [(2, 16, 16), (1, 4, 2), (2, 8, 8)])
def test_patchify_matches_the_loop(patch):
    x = torch.randn(2, 3, 4, 16, 16)
    torch.testing.assert_close(patchify(x, patch), _reference_patchify(x, patch))


def test_patchify_bad_size():
    with pytest.raises(ValueError, match="not a multiple"):
        patchify(torch.randn(1, 3, 3, 16, 16), (2, 16, 16))


def test_loss_matches_an_independent_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 4, 8, 8, generator=g)
    target = patchify(x, (2, 4, 4))  # (2, 8, 96)
    pred = torch.randn(target.shape, generator=g)
    mask = torch.rand(2, 8, generator=g) > 0.5
    got = masked_mse(pred, normalize_patches(target), mask)
    assert abs(float(got) - _reference_loss(pred, target, mask)) < 1e-5


def test_hand_worked_case():
    # one patch of 4 values [0, 1, 2, 3]: mean 1.5, variance 1.25 -> (v - 1.5) / sqrt(1.25 + eps)
    p = torch.tensor([[[0.0, 1.0, 2.0, 3.0], [5.0, 5.0, 5.0, 5.0]]])
    n = normalize_patches(p, eps=0.0 + 1e-12)
    s = 1.25 ** 0.5
    torch.testing.assert_close(n[0, 0], torch.tensor([-1.5, -0.5, 0.5, 1.5]) / s)
    assert torch.equal(normalize_patches(p)[0, 1], torch.zeros(4))  # a flat patch: all zeros
    # prediction 0 everywhere: the error of patch 0 is mean(n^2) = 1 (unit variance), patch 1 (flat) 0
    mask = torch.tensor([[True, False]])
    assert abs(float(masked_mse(torch.zeros(1, 2, 4), normalize_patches(p), mask)) - 1.0) < 1e-5
    assert float(masked_mse(torch.zeros(1, 2, 4), normalize_patches(p), ~mask)) == 0.0
    # only masked patches count: a huge error on the unmasked one changes nothing
    pred = torch.zeros(1, 2, 4)
    pred[0, 1] = 100.0
    assert abs(float(masked_mse(pred, normalize_patches(p), mask)) - 1.0) < 1e-5


def test_per_channel_normalisation():
    # patch of 2 positions x 2 channels (values ordered (position, channel)): channel 0 [0, 2], channel 1 [10, 30]
    p = torch.tensor([[0.0, 10.0, 2.0, 30.0]])
    n = normalize_patches(p, channels=2, eps=1e-12)
    torch.testing.assert_close(n, torch.tensor([[-1.0, -1.0, 1.0, 1.0]]))


def test_gradient_reaches_only_the_prediction():
    pred = torch.randn(1, 3, 4, requires_grad=True)
    target = torch.randn(1, 3, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True]])
    masked_mse(pred, target, mask).backward()
    assert target.grad is None
    assert pred.grad[0, 1].abs().sum() == 0 and pred.grad[0, 0].abs().sum() > 0


def test_loss_falls_under_sgd():
    target = normalize_patches(torch.randn(2, 6, 12))
    pred = torch.zeros(2, 6, 12, requires_grad=True)
    mask = torch.ones(2, 6, dtype=torch.bool)
    opt = torch.optim.SGD([pred], lr=20.0)  # the mean over 2 x 6 x 12 values makes each gradient small
    losses = []
    for _ in range(5):
        loss = masked_mse(pred, target, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
