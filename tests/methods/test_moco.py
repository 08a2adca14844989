from __future__ import annotations

import torch
from helpers.methods import B, batch_for, build


def test_after_step_enqueues_keys_and_moves_the_key_encoder():
    m = build("moco")
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    key_before = [p.clone() for p in m.enc.key_backbone.parameters()]
    out = m.training_step(batch_for(m))
    out.loss.backward()
    opt.step()
    assert int(m.enc.queue.num_enqueued) == 0  # keys wait for after_step
    m.after_step(0)
    assert int(m.enc.queue.num_enqueued) == B
    moved = [not torch.equal(a, b) for a, b in zip(key_before, m.enc.key_backbone.parameters())]
    assert any(moved)
    # m = 0.999: the key encoder moves by 0.1 % of the gap only
    q = list(m.enc.backbone.parameters())[0]
    k = list(m.enc.key_backbone.parameters())[0]
    torch.testing.assert_close(k, 0.999 * key_before[0] + 0.001 * q, atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in m.enc.key_backbone.parameters())


def test_symmetric_enqueues_both_directions():
    m = build("moco", symmetric=True)
    out = m.training_step(batch_for(m))
    assert torch.isfinite(out.loss)
    m.after_step(0)
    assert int(m.enc.queue.num_enqueued) == 2 * B


def test_shuffle_bn_keys_use_batch_norm_over_shuffled_sub_batches(monkeypatch):
    """MoCo / FAME ``_batch_shuffle_ddp``, one process: the shuffled key batch is split in
    ``bn_splits`` BN groups; keys come back in the original order."""
    import pytest

    from vssl.methods.common import MomentumPair

    m = build("moco")
    assert m.cfg.shuffle_bn and m.enc.shuffle_bn and build("fame").enc.shuffle_bn
    enc = m.enc
    x = torch.randn(8, 3, 4, 24, 24)
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    monkeypatch.setattr(torch, "randperm", lambda n, **kw: perm.to(kw.get("device")))
    k = enc.key(x)
    with torch.no_grad():
        want = torch.empty_like(k)
        for idx in perm.chunk(2):
            want[idx] = torch.nn.functional.normalize(enc.key_head(enc.key_backbone(x[idx])), dim=1)
        plain = torch.nn.functional.normalize(enc.key_head(enc.key_backbone(x)), dim=1)
    torch.testing.assert_close(k, want)
    assert not torch.allclose(k, plain, atol=1e-4)  # BN over the whole batch gives other keys
    # fewer than 2 clips per sub-batch: one BN group (no split), no error
    torch.testing.assert_close(enc.key(x[:3]), torch.nn.functional.normalize(
        enc.key_head(enc.key_backbone(x[:3])), dim=1))
    # no batch norm in the key encoder: nothing to shuffle
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 24 * 24, 16))
    nobn = MomentumPair(lin, 16, 8, 0, 0.999, shuffle_bn=True)
    torch.testing.assert_close(nobn.key(x), torch.nn.functional.normalize(nobn.key_head(nobn.key_backbone(x)), dim=1))
    with pytest.raises(ValueError, match="moco bn_splits"):
        build("moco", bn_splits=0)
    off = build("moco", shuffle_bn=False)
    torch.testing.assert_close(off.enc.key(x), torch.nn.functional.normalize(
        off.enc.key_head(off.enc.key_backbone(x)), dim=1))
