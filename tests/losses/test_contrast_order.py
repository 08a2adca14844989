"""CORP_f's contrast-and-order loss against a per-clip loop and a hand-worked case."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vssl.losses import contrast_order, split_symmetric


def _loop(z, w, video, time, tau):
    """Per clip: the (4B - 2)-way classification over (other clip, order) with p(j, o) = p(j) p(o | j)."""
    n = z.shape[0]
    nce, order, n_order = 0.0, 0.0, 0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        sym = {j: float(z[i] @ ((w + w.t()) / 2) @ z[j]) / tau for j in others}
        anti = {j: float(z[i] @ ((w - w.t()) / 2) @ z[j]) / tau for j in others}
        pos = next(j for j in others if video[j] == video[i])
        log_z = math.log(sum(math.exp(sym[j]) for j in others))
        nce += log_z - sym[pos]
        if time[i] != time[pos]:
            o = 1 if time[i] < time[pos] else -1
            order += math.log(math.exp(anti[pos]) + math.exp(-anti[pos])) - o * anti[pos]
            n_order += 1
    return nce / n, order / max(1, n_order)


def test_matches_the_loop():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(8, 6, generator=g), dim=1)
    w = torch.randn(6, 6, generator=g)
    video = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    time = torch.tensor([5, 2, 7, 1, 9, 2, 3, 4])  # video 1: equal starts, no order term
    nce, order, _ = contrast_order(z, w, video, time, temperature=0.5)
    ref_nce, ref_order = _loop(z, w, video.tolist(), time.tolist(), 0.5)
    assert math.isclose(float(nce), ref_nce, rel_tol=1e-5) and math.isclose(float(order), ref_order, rel_tol=1e-5)


def test_hand_worked_case():
    # two videos, orthogonal clips; W = I + A with A = [[0, 1], [-1, 0]]: S = I, a(z_i, z_j) = z_i^T A z_j
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([[1.0, 1.0], [-1.0, 1.0]])
    s, a = split_symmetric(w)
    assert torch.equal(s, torch.eye(2)) and torch.equal(a, torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))
    video = torch.tensor([0, 1, 0, 1])
    time = torch.tensor([0, 0, 10, 10])  # clips 0, 1 come first
    nce, order, _ = contrast_order(z, w, video, time, temperature=1.0)
    # clip 0: others 1, 2, 3 with S-scores 0, 1, 0; positive 2: -log(e / (2 + e))
    assert math.isclose(float(nce), -math.log(math.e / (2 + math.e)), rel_tol=1e-6)
    # every positive pair is parallel: a = 0, so each order term is log 2 and the accuracy is a tie
    assert math.isclose(float(order), math.log(2), rel_tol=1e-6)
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # clip 2 = e2: a(z0, z2) = 1
    _, order2, acc2 = contrast_order(z2, w, torch.tensor([0, 1, 0, 1]), time, temperature=1.0)
    # a(0,2) = 1 (0 before 2: right), a(2,0) = -1 (2 after 0: right), a(1,3) = e2^T A e1 = -1 (1 before 3: wrong),
    # a(3,1) = 1 (wrong): two terms log(1 + e^-2), two log(1 + e^2)
    ref = (2 * math.log(1 + math.exp(-2)) + 2 * math.log(1 + math.exp(2))) / 4
    assert math.isclose(float(order2), ref, rel_tol=1e-6) and float(acc2) == 0.5


def test_needs_two_clips_per_video():
    with pytest.raises(ValueError, match="exactly two clips per video"):
        contrast_order(torch.randn(3, 2), torch.eye(2), torch.tensor([0, 0, 0]), torch.arange(3), temperature=0.1)
