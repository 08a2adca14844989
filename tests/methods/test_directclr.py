from __future__ import annotations

import math

import pytest
import torch
from helpers.methods import B, batch_for, build, train_losses

from vssl.errors import InputError


def _reference(z1, z2, tau):
    """DirectCLR's symmetrised cross-view InfoNCE by explicit loops (float64)."""
    a = torch.nn.functional.normalize(z1.double(), dim=1)
    b = torch.nn.functional.normalize(z2.double(), dim=1)

    def one_way(q, k):
        n = len(q)
        tot = 0.0
        for i in range(n):
            den = sum(math.exp(float(q[i] @ k[m]) / tau) for m in range(n))
            tot += -(float(q[i] @ k[i]) / tau - math.log(den))
        return tot / n

    return 0.5 * one_way(a, b) + 0.5 * one_way(b, a)


def test_loss_uses_the_leading_sub_vector_without_projector():
    m = build("directclr")
    assert not any(n.startswith(("projector", "head")) for n, _ in m.named_parameters())
    xs = [torch.randn(B, 3, 4, 24, 24) for _ in range(2)]
    m.augment.forward = lambda clips: xs
    out = m.training_step(batch_for(m))
    with torch.no_grad():
        h = [m.backbone(x) for x in xs]
    assert out.loss.item() == pytest.approx(_reference(h[0][:, :16], h[1][:, :16], 0.1), rel=1e-5)
    assert {"acc", "emb_rank", "rep_rank", "rep_std"} <= set(out.logs)
    # only the leading features enter the loss, yet every backbone weight gets a gradient through them
    out.loss.backward()
    assert all(p.grad is not None for p in m.backbone.parameters())


def test_hand_worked_case():
    # orthogonal, identical views: each row's positive scores 1 / tau, its B - 1 negatives 0
    z = torch.eye(4)
    want = -(10.0 - math.log(math.exp(10.0) + 3))
    assert _reference(z, z, 0.1) == pytest.approx(want)
    from vssl.losses import info_nce

    assert info_nce(z.double(), z.double(), temperature=0.1).item() == pytest.approx(want, rel=1e-9)


def test_sub_vector_larger_than_the_features_is_one_line_error():
    from vssl.train.config import resolve_config
    from vssl.train.engine import build_method

    cfg = resolve_config("directclr", overrides={"backbone": "tiny", "directclr.crop": 24})
    with pytest.raises(InputError, match="directclr.dim 360 is larger than the backbone's feature dimension 64") as e:
        build_method(cfg)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="directclr dim must be"):
        resolve_config("directclr", overrides={"directclr.dim": 0})
    o = resolve_config("directclr").optim
    assert (o.optimizer, o.lr, o.lr_scaling, o.weight_decay, o.epochs, o.warmup_epochs) == (
        "lars", 4.8, "none", 1e-6, 100, 10.0)


def test_loss_falls():
    losses = train_losses(build("directclr"), 12, lr=0.5, optimizer="lars", exclude_norm_bias=True)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
