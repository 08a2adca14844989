"""MCN: the inner step is theta - lr * grad; the meta gradient goes through it (second order) or not
(first order), checked against finite differences of a hand-built case; the binary pairs; configs."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import batch_for, build

from vssl.methods.mcn import Config, binary_pairs


def test_binary_pairs_are_balanced_and_labelled():
    z1, z2 = torch.arange(3.0)[:, None], 10 + torch.arange(3.0)[:, None]
    a, b, label = binary_pairs(z1, z2)
    assert a[:, 0].tolist() == [0, 1, 2, 0, 1, 2] and b[:, 0].tolist() == [10, 11, 12, 11, 12, 10]
    assert label.tolist() == [1, 1, 1, 0, 0, 0]


def test_inner_step_and_meta_order():
    torch.manual_seed(0)
    m = build("mcn", inner_lr=0.5, meta_params="heads")
    (name, p), *_ = m.adapted_params()
    assert all(not n.startswith("backbone.") for n, _ in m.adapted_params())
    loss = (p ** 3).sum()  # d/dp = 3 p^2, d2/dp2 = 6 p
    fast = m.inner_step(loss)
    torch.testing.assert_close(fast[name], p - 0.5 * 3 * p.detach() ** 2)
    # outer loss sum(fast) -> d/dp = 1 - 0.5 * 6 p (second order) or 1 (first order)
    (g2,) = torch.autograd.grad(fast[name].sum(), p)
    torch.testing.assert_close(g2, 1 - 3.0 * p.detach())
    m1 = build("mcn", inner_lr=0.5, meta_params="heads", meta_order="first")
    (name1, p1), *_ = m1.adapted_params()
    (g1,) = torch.autograd.grad(m1.inner_step((p1 ** 3).sum())[name1].sum(), p1)
    torch.testing.assert_close(g1, torch.ones_like(p1))


@pytest.mark.slow  # second order through the backbone; the inner-step maths is test_inner_step_and_meta_order
def test_step_meta_gradient_goes_through_the_inner_step():
    """All parameters adapted: same init, batch and augmentation, so the second-order and first-order
    backbone gradients differ only by the term through the inner step, which must be there."""
    grads = {}
    for order in ("second", "first"):
        m = build("mcn", meta_order=order, meta_params="all").train()
        torch.manual_seed(0)
        out = m.training_step(batch_for(m))
        assert float(out.logs["meta"]) > 0
        w = next(m.backbone.parameters())
        (grads[order],) = torch.autograd.grad(out.loss, [w])
        assert float(grads[order].abs().sum()) > 0
    assert not torch.allclose(grads["second"], grads["first"])
    m = build("mcn").train()
    assert float(m.training_step(batch_for(m, batch_size=3)).logs["meta"]) == 0.0  # too small to split


def test_config_errors_are_one_line():
    for kw, msg in (({"meta_order": "third"}, "meta_order"), ({"inner_lr": 0.0}, "inner_lr"),
                    ({"meta_params": "backbone"}, "meta_params")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)
