from __future__ import annotations

import pytest
import torch

from vssl.models import MLPHead, Queue, build_backbone, copy_to_momentum, momentum_update


@pytest.mark.parametrize("batch_norm", [False, True])
def test_mlp_head(batch_norm):
    head = MLPHead(32, 64, 16, batch_norm=batch_norm)
    assert head(torch.randn(4, 32)).shape == (4, 16)
    kinds = [type(m) for m in head.net]
    want = [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    if batch_norm:
        want.insert(1, torch.nn.BatchNorm1d)
    assert kinds == want


def test_copy_to_momentum_is_frozen_and_independent():
    online = MLPHead(4, 8, 2)
    target = copy_to_momentum(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    for p_o, p_t in zip(online.parameters(), target.parameters()):
        assert torch.equal(p_o, p_t) and p_o.data_ptr() != p_t.data_ptr()


def test_momentum_update_math():
    torch.manual_seed(0)
    online = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    target = copy_to_momentum(online)
    with torch.no_grad():
        for p in target.parameters():
            p.normal_()
    online(torch.randn(8, 3))  # moves online's BN running stats
    before = [p.clone() for p in target.parameters()]
    m = 0.9
    momentum_update(online, target, m)
    for p_o, p_t, p_before in zip(online.parameters(), target.parameters(), before):
        # element-wise reference
        want = torch.tensor([m * b + (1 - m) * o for b, o in zip(p_before.flatten().tolist(), p_o.flatten().tolist())])
        torch.testing.assert_close(p_t.flatten(), want)
    for b_o, b_t in zip(online.buffers(), target.buffers()):
        assert torch.equal(b_o, b_t)


def test_momentum_update_edges_and_buffers_option():
    online, target = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        online.weight.fill_(2.0)
        online.running_mean.fill_(5.0)
    momentum_update(online, target, 1.0, copy_buffers=False)
    assert torch.equal(target.weight, torch.ones(3)) and torch.equal(target.running_mean, torch.zeros(3))
    momentum_update(online, target, 0.0, copy_buffers=False)
    assert torch.equal(target.weight, online.weight) and torch.equal(target.running_mean, torch.zeros(3))
    with pytest.raises(ValueError, match="momentum"):
        momentum_update(online, target, 1.5)
    with pytest.raises(ValueError, match="differ"):
        momentum_update(online, torch.nn.BatchNorm1d(4), 0.5)


def test_momentum_update_on_a_backbone_leaves_online_untouched():
    online = build_backbone("tiny")
    target = copy_to_momentum(online)
    snapshot = {k: v.clone() for k, v in online.state_dict().items()}
    momentum_update(online, target, 0.999)
    for k, v in online.state_dict().items():
        assert torch.equal(v, snapshot[k])


class _ReferenceFifo:
    """List-based FIFO of the last ``size`` keys, oldest first."""

    def __init__(self, initial):
        self.items = [row for row in initial]
        self.size = len(initial)

    def push(self, keys):
        self.items = (self.items + [row for row in keys])[-self.size :]


@pytest.mark.parametrize("batches", [[3, 3, 3, 3], [5, 2, 4], [7, 1], [12], [2, 0, 9, 1]])
def test_queue_wraps_like_a_fifo(batches):
    torch.manual_seed(0)
    size, dim = 5, 4
    q = Queue(size, dim)
    ref = _ReferenceFifo(q.queue.clone())
    total = 0
    for b in batches:
        keys = torch.nn.functional.normalize(torch.randn(b, dim), dim=1)
        q.enqueue(keys)
        ref.push(keys)
        total += b
        assert q.ptr == total % size
        # row n % size holds stream key n: rotate the buffer so the oldest comes first
        oldest_first = torch.roll(q.queue, shifts=-q.ptr, dims=0)
        torch.testing.assert_close(oldest_first, torch.stack(ref.items))
    assert int(q.num_enqueued) == total


def test_queue_normalises_detaches_and_copies():
    q = Queue(4, 3)
    assert torch.allclose(q.queue.norm(dim=1), torch.ones(4))
    keys = torch.tensor([[3.0, 0.0, 4.0]], requires_grad=True)
    q.enqueue(keys * 2)
    torch.testing.assert_close(q.queue[0], torch.tensor([0.6, 0.0, 0.8]))
    neg = q.negatives
    assert not neg.requires_grad
    q.enqueue(torch.ones(4, 3))
    assert not torch.equal(neg, q.negatives), "negatives is a copy, not a view"
    with pytest.raises(ValueError, match="keys"):
        q.enqueue(torch.ones(2, 5))


def test_queue_state_dict_round_trip():
    q = Queue(6, 2)
    q.enqueue(torch.randn(4, 2))
    assert set(q.state_dict()) == {"queue", "num_enqueued"}
    other = Queue(6, 2)
    other.load_state_dict(q.state_dict())
    assert torch.equal(other.queue, q.queue) and other.ptr == 4
