"""Weighted kNN: a hand-worked vote, a loop reference, and clustered data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.errors import InputError
from vssl.eval.knn import knn_accuracy, knn_classify


def test_hand_worked_vote():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    y = [0, 1, 1, 2]
    test = torch.tensor([[2.0, 0.0]])
    # sims: 1, 0, 0.7071, -1 -> top 3: items 0 (class 0), 2 (class 1), 1 (class 1).
    t = 0.5
    w0, w1 = math.exp(1 / t), math.exp(2 ** -0.5 / t) + math.exp(0 / t)
    pred, scores = knn_classify(train, y, test, num_classes=4, k=3, temperature=t)
    assert scores.shape == (1, 4)
    assert scores[0].tolist() == pytest.approx([w0 / (w0 + w1), w1 / (w0 + w1), 0, 0], rel=1e-5)
    assert pred.tolist() == [0 if w0 > w1 else 1]
    # A high temperature makes votes near-uniform: two class-1 neighbours beat one class-0.
    pred, _ = knn_classify(train, y, test, k=3, temperature=100.0)
    assert pred.tolist() == [1]


def test_against_loop_reference():
    rng = np.random.default_rng(0)
    tr = rng.normal(size=(30, 5))
    te = rng.normal(size=(8, 5))
    y = rng.integers(0, 3, 30)
    k, t = 7, 0.1
    _, scores = knn_classify(torch.tensor(tr), y, torch.tensor(te), num_classes=3, k=k, temperature=t, chunk_size=3)
    trn = tr / np.linalg.norm(tr, axis=1, keepdims=True)
    for i, x in enumerate(te):
        x = x / np.linalg.norm(x)
        sims = sorted(((float(x @ trn[j]), j) for j in range(30)), key=lambda p: (-p[0], p[1]))[:k]
        votes = [0.0, 0.0, 0.0]
        for s, j in sims:
            votes[y[j]] += math.exp(s / t)
        assert scores[i].tolist() == pytest.approx([v / sum(votes) for v in votes], rel=1e-4, abs=1e-7)


def test_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=g) * 3
    ytr = torch.arange(200) % 5
    yte = torch.arange(50) % 5
    xtr = centres[ytr] + torch.randn(200, 16, generator=g)
    xte = centres[yte] + torch.randn(50, 16, generator=g)
    pred, scores = knn_classify(xtr, ytr, xte, k=20)
    assert knn_accuracy(pred, yte) > 0.95
    assert torch.allclose(scores.sum(1), torch.ones(50))
    # k above the training set size is clamped.
    pred_all, _ = knn_classify(xtr[:10], ytr[:10], xte, k=1000)
    assert pred_all.shape == (50,)


def test_errors():
    x = torch.randn(4, 3)
    with pytest.raises(InputError, match="temperature"):
        knn_classify(x, [0, 1, 0, 1], x, temperature=0)
    with pytest.raises(InputError, match="num_classes"):
        knn_classify(x, [0, 1, 0, 5], x, num_classes=3)
