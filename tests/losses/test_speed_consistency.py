"""ASCNet's same-speed top-1 retrieval and speed-consistency loss against loops and a hand-worked case."""

from __future__ import annotations

import math

import torch

from vssl.losses import same_speed_top1, speed_consistency


def _loop_top1(q, k, qs, ks, qv, kv):
    idx, found = [], []
    for i in range(q.shape[0]):
        best, arg = -math.inf, 0
        for j in range(k.shape[0]):
            if int(ks[j]) < 0 or int(ks[j]) != int(qs[i]) or int(kv[j]) == int(qv[i]):
                continue
            c = float(torch.dot(q[i], k[j]) / (q[i].norm() * k[j].norm()))
            if c > best:
                best, arg = c, j
        idx.append(arg)
        found.append(best > -math.inf)
    return torch.tensor(idx), torch.tensor(found)


def test_matches_a_loop_reference():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(12, 5, generator=g), torch.randn(30, 5, generator=g)
    qs, ks = torch.randint(1, 3, (12,), generator=g), torch.randint(-1, 3, (30,), generator=g)
    qv, kv = torch.randint(0, 4, (12,), generator=g), torch.randint(0, 4, (30,), generator=g)
    idx, found = same_speed_top1(q, k, qs, ks, qv, kv)
    ref_idx, ref_found = _loop_top1(q, k, qs, ks, qv, kv)
    assert torch.equal(found, ref_found) and torch.equal(idx[found], ref_idx[ref_found])
    p, t = torch.randn(12, 5, generator=g), torch.randn(30, 5, generator=g)
    ref = sum(float(((p[i] / p[i].norm() - t[ref_idx[i]] / t[ref_idx[i]].norm()) ** 2).sum())
              for i in range(12) if ref_found[i]) / max(1, int(ref_found.sum()))
    assert math.isclose(float(speed_consistency(p, t, idx, found)), ref, rel_tol=1e-5)


def test_hand_worked_case():
    # query 0 (speed 1, video 0): key 0 is its own video, key 1 has speed 2, keys 2 and 3 qualify,
    # key 3 is nearer (cos 0.8 vs 0). Query 1 (speed 2, video 1): only key 1 has speed 2, but it is video 1.
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    idx, found = same_speed_top1(q, k, torch.tensor([1, 2]), torch.tensor([1, 2, 1, 1]), torch.tensor([0, 1]),
                                 torch.tensor([0, 1, 2, 3]))
    assert found.tolist() == [True, False] and int(idx[0]) == 3
    # prediction (0, 1) vs target (0.8, 0.6): |(0, 1) - (0.8, 0.6)|^2 = 0.64 + 0.16 = 0.8; row 1 left out
    p = torch.tensor([[0.0, 2.0], [5.0, 5.0]])
    assert math.isclose(float(speed_consistency(p, k, idx, found)), 0.8, rel_tol=1e-6)
    none = speed_consistency(p.requires_grad_(), k, idx, torch.tensor([False, False]))
    assert float(none.detach()) == 0.0 and none.requires_grad
