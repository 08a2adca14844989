"""Multi-positive InfoNCE (TEC's transformation contrast) against a loop and a hand-worked case."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vssl.losses import multi_positive_info_nce


def _loop(z, labels, tau):
    z = [[x / math.sqrt(sum(y * y for y in v)) for x in v] for v in z.tolist()]
    n, total, anchors = len(z), 0.0, 0
    for i in range(n):
        pos = [j for j in range(n) if j != i and labels[j] == labels[i]]
        if not pos:
            continue
        s = {j: sum(a * b for a, b in zip(z[i], z[j])) / tau for j in range(n) if j != i}
        log_den = math.log(sum(math.exp(v) for v in s.values()))
        total += -sum(s[p] - log_den for p in pos) / len(pos)
        anchors += 1
    return total / anchors


def test_matches_the_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(9, 4, generator=g)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 2, 1])  # label 3 has no positive
    loss, has = multi_positive_info_nce(z, labels, temperature=0.3)
    assert has.tolist() == [True] * 6 + [False] + [True] * 2
    assert math.isclose(float(loss), _loop(z, labels.tolist(), 0.3), rel_tol=1e-5)


def test_hand_worked_case():
    # three unit vectors: 0 and 1 equal (positives), 2 orthogonal; tau = 1
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    loss, has = multi_positive_info_nce(z, torch.tensor([5, 5, 7]), temperature=1.0)
    # anchors 0 and 1: -log(e / (e + 1)); anchor 2 has no positive
    assert has.tolist() == [True, True, False]
    assert math.isclose(float(loss), -math.log(math.e / (math.e + 1)), rel_tol=1e-6)
    none, has = multi_positive_info_nce(F.normalize(z, dim=1).requires_grad_(), torch.arange(3), temperature=1.0)
    assert float(none.detach()) == 0.0 and not has.any() and none.requires_grad
