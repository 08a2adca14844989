from __future__ import annotations

import torch
from method_helpers import B, batch_for, build


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
