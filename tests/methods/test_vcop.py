"""VCOP: the order label matches the shuffled clips, the reference head, the constant lr, learning."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from helpers.methods import build, train_losses

from vssl.data.requires import Requires
from vssl.data.synthetic import synthetic_batch
from vssl.methods.pretext import permutations, shuffle_items
from vssl.methods.vcop import Config


def test_permutation_table_and_shuffle_by_hand():
    p = permutations(3)
    assert p.tolist() == [list(q) for q in itertools.permutations(range(3))]
    assert p[3].tolist() == [1, 2, 0]  # label 3: position 0 holds clip 1, position 1 clip 2, position 2 clip 0
    x = torch.tensor([[10, 11, 12]] * 50)  # item i of every sample is 10 + i
    torch.manual_seed(0)
    shuffled, label = shuffle_items(x, p)
    assert set(label.tolist()) == set(range(6))  # all six orders are drawn
    for row, k in zip(shuffled.tolist(), label.tolist()):
        assert row == [10 + i for i in p[k].tolist()]
        # the label undoes the shuffle: putting position i back at clip perm[i] restores the order
        restored = [0, 0, 0]
        for pos, clip in enumerate(p[k].tolist()):
            restored[clip] = row[pos]
        assert restored == [10, 11, 12]


def _constant_tuple(b=8, t=4, hw=(32, 40), noise=False):
    """Tuples whose clip i is the constant grey level 60 * (i + 1): the crop keeps it."""
    v = torch.tensor([60, 120, 180], dtype=torch.uint8).view(1, 3, 1, 1, 1, 1)
    clips = v.expand(b, 3, t, *hw, 3).contiguous()
    if noise:  # a texture (+-5 grey levels) keeps the batch norm off flat inputs; the clip means stay apart
        clips = clips + torch.randint(0, 5, clips.shape, generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    return {"clips": clips, "index": torch.arange(b), "label": torch.zeros(b)}


def test_loss_uses_the_label_of_the_shuffled_clips(monkeypatch):
    m = build("vcop").train()
    seen = {}
    fixed = torch.randn(8, 6)

    def fake_logits(x):
        seen["x"] = x
        return fixed.clone().requires_grad_()

    monkeypatch.setattr(m, "logits", fake_logits)
    torch.manual_seed(1)
    loss = m.training_step(_constant_tuple()).loss
    x = seen["x"]  # (B, 3, 3, T, h, w): network inputs, no normalisation by default
    assert x.shape[:3] == (8, 3, 3) and x.shape[-2:] == (24, 24)
    clip_at = (x.mean(dim=(2, 3, 4, 5)) * 255 / 60).round().long() - 1  # (B, 3): which clip sits at each position
    orders = [tuple(q) for q in itertools.permutations(range(3))]
    label = torch.tensor([orders.index(tuple(r)) for r in clip_at.tolist()])
    assert len(set(label.tolist())) > 1
    torch.testing.assert_close(loss, F.cross_entropy(fixed, label))


def test_reference_head_and_requires():
    m = build("vcop", hidden_dim=512)
    assert m.requires == Requires(views=3, view_gap=1)
    assert (m.fc7.in_features, m.fc7.out_features) == (2 * 64, 512)  # a pair of clip features
    assert (m.fc8.in_features, m.fc8.out_features) == (3 * 512, 6)  # 3 pairs, 3! orders
    assert m.dropout.p == 0.5
    assert build("vcop", clips=4).fc8.out_features == 24
    d = Config()
    assert (d.clips, d.gap, d.hidden_dim, d.crop, d.normalize, d.constant_lr) == (3, 8, 512, 112, "none", True)


def test_constant_lr_keeps_every_parameter_at_the_peak():
    from vssl.train.optim import param_groups

    for constant in (True, False):
        m = build("vcop", constant_lr=constant)
        groups = param_groups(m, weight_decay=5e-4, fixed_lr=m.fixed_lr)
        assert all(g["fixed_lr"] == constant for g in groups)


def test_bad_values_are_one_line():
    for kw, msg in (({"clips": 6}, "clips must be an integer in 2..5"), ({"gap": -1}, "gap must be"),
                    ({"dropout": 1.0}, "dropout must be"), ({"normalize": "imagenet"}, "normalize must be one of")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)


def test_order_prediction_learns():
    """Clips that tell their place (grey level) in the tuple: the order is learnt within a few steps."""
    m = build("vcop", dropout=0.0, crop=16)
    losses = train_losses(m, 12, 0.1, batch=_constant_tuple(t=2, hw=(18, 24), noise=True))
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_synthetic_batch_has_the_tuple():
    m = build("vcop")
    assert synthetic_batch(m.requires, 2, 4, (32, 40))["clips"].shape == (2, 3, 4, 32, 40, 3)
