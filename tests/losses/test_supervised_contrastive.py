"""SupCon / KCL / TSC with a labelled queue: against a loop reference, hand-worked values, positive
sampling, the targets and their assignment."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vssl.losses.supervised_contrastive import assign_targets, sample_positives, supervised_contrastive, uniform_targets


def _reference(q, k, queue, qlab, lab, tau, pos_mask, targets=None, assign=None, tw=1.0):
    """Row by row, as the formula reads."""
    total_c, total_t = 0.0, 0.0
    for i in range(q.shape[0]):
        keys = [k[i]] + list(queue) + (list(targets) if targets is not None else [])
        s = torch.stack([q[i] @ key / tau for key in keys])
        log_den = torch.logsumexp(s, 0)
        pos = [0] + [1 + j for j in range(queue.shape[0]) if pos_mask[i, j]]
        n = len(pos) + (1 if targets is not None else 0)
        total_c += -sum(float(s[p] - log_den) for p in pos) / n
        if targets is not None:
            total_t += -float(s[1 + queue.shape[0] + int(assign[lab[i]])] - log_den) / n * tw
    b = q.shape[0]
    return total_c / b + total_t / b, total_c / b, total_t / b


def test_hand_worked_value():
    # one query, its key, a queue of two keys (one of its class), tau = 1
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, _, _ = supervised_contrastive(q, k, queue, torch.tensor([7, 3]), torch.tensor([7]), temperature=1.0)
    den = math.log(math.e + 1 + math.exp(-1))  # logits 1, 0, -1
    assert float(loss) == pytest.approx(-((1 - den) + (0 - den)) / 2)  # positives: the key and queue entry 0


@pytest.mark.parametrize("k_pos", [0, 2])
def test_matches_the_loop_reference(k_pos):
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    k = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    queue = F.normalize(torch.randn(20, 8, generator=g), dim=1)
    qlab = torch.randint(-1, 3, (20,), generator=g)
    lab = torch.randint(0, 3, (6,), generator=g)
    targets = F.normalize(torch.randn(3, 8, generator=g), dim=1)
    assign = torch.tensor([2, 0, 1])
    for tg in (None, targets):
        gen = torch.Generator().manual_seed(5)
        got = supervised_contrastive(q, k, queue, qlab, lab, temperature=0.2, k_positives=k_pos, targets=tg,
                                     target_of_class=assign if tg is not None else None, target_weight=0.2,
                                     generator=gen)
        mask = sample_positives(lab.view(-1, 1) == qlab.view(1, -1), k_pos, torch.Generator().manual_seed(5))
        want = _reference(q, k, queue, qlab, lab, 0.2, mask, tg, assign, 0.2)
        for a, b in zip(got, want):
            assert float(a) == pytest.approx(b, rel=1e-5, abs=1e-6)


def test_sample_positives():
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    counts = torch.zeros(6)
    for s in range(200):
        got = sample_positives(mask, 2, torch.Generator().manual_seed(s))
        assert not (got & ~mask).any()
        assert got.sum(1).tolist() == [2, 1, 0]  # k of them, or all when fewer
        counts += got[0].float()
    assert counts[:4].min() > 60  # each of the four drawn about half the time (100 of 200)
    assert torch.equal(sample_positives(mask, 0), mask)  # SupCon: every one


def test_kcl_with_enough_k_is_supcon():
    g = torch.Generator().manual_seed(1)
    q, k = F.normalize(torch.randn(4, 5, generator=g), dim=1), F.normalize(torch.randn(4, 5, generator=g), dim=1)
    queue = F.normalize(torch.randn(12, 5, generator=g), dim=1)
    qlab, lab = torch.randint(0, 2, (12,), generator=g), torch.tensor([0, 1, 0, 1])
    a = supervised_contrastive(q, k, queue, qlab, lab, temperature=0.07, k_positives=0)[0]
    b = supervised_contrastive(q, k, queue, qlab, lab, temperature=0.07, k_positives=12)[0]
    torch.testing.assert_close(a, b)


def test_uniform_targets_form_a_regular_simplex():
    t = uniform_targets(4, 3, steps=300, lr=0.05, temperature=0.2, seed=0)  # d >= C - 1: the regular simplex
    cos = t @ t.T
    off = cos[~torch.eye(4, dtype=torch.bool)]
    assert torch.allclose(t.norm(dim=1), torch.ones(4), atol=1e-5)
    assert float((off + 1 / 3).abs().max()) < 0.05  # every pair at -1 / (C - 1)


def test_assign_targets_recovers_a_permutation():
    g = torch.Generator().manual_seed(2)
    targets = F.normalize(torch.randn(5, 6, generator=g), dim=1)
    perm = torch.tensor([3, 0, 4, 1, 2])
    centroids = F.normalize(targets[perm] + 0.05 * torch.randn(5, 6, generator=g), dim=1)
    assert assign_targets(centroids, targets).tolist() == perm.tolist()
