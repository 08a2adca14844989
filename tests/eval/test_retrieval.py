"""retrieval_recall / topk_neighbours against a brute-force reference written with Python loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.errors import InputError
from vssl.eval.retrieval import retrieval_recall, stable_topk, topk_neighbours


def ref_ranking(q: list[list[float]], g: list[list[float]], center: bool) -> list[list[int]]:
    """Gallery indices of each query, most similar first, ties by lower index (float64, loops)."""
    d = len(g[0])
    if center:
        mu = [sum(row[j] for row in g) / len(g) for j in range(d)]
        q = [[r[j] - mu[j] for j in range(d)] for r in q]
        g = [[r[j] - mu[j] for j in range(d)] for r in g]

    def unit(r):
        n = math.sqrt(sum(v * v for v in r))
        return [v / n if n > 0 else 0.0 for v in r]

    q, g = [unit(r) for r in q], [unit(r) for r in g]
    out = []
    for qi in q:
        sims = [sum(a * b for a, b in zip(qi, gj)) for gj in g]
        out.append(sorted(range(len(g)), key=lambda j: (-sims[j], j)))
    return out


def ref_recall(q, ql, g, gl, ks, center=False) -> dict[int, float]:
    ranks = ref_ranking(q, g, center)
    res = {}
    for k in ks:
        hits = 0
        for i, order in enumerate(ranks):
            if any(gl[j] == ql[i] for j in order[:k]):
                hits += 1
        res[k] = hits / len(q)
    return res


def test_hand_worked():
    # Query along x; gallery: x (class 1), 45 degrees (class 0), y (class 0), -x (class 1).
    g = torch.tensor([[0.0, 5.0], [1.0, 1.0], [2.0, 0.0], [-1.0, 0.0]])
    gl = [0, 0, 1, 1]
    q = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    ql = [0, 1]
    # Query 0 ranks: 2 (1.0), 1 (0.707), 0 (0), 3 (-1) -> first class-0 hit at rank 2.
    # Query 1 ranks: 0 (1.0), 1 (0.707), 2 (0), 3 (0) tie -> 2 first -> class-1 hit at rank 3.
    r = retrieval_recall(q, ql, g, gl, ks=(1, 2, 3, 4))
    assert r == {1: 0.0, 2: 0.5, 3: 1.0, 4: 1.0}
    sims, idx = topk_neighbours(q, g, 4)
    assert idx.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3]]
    assert sims[0].tolist() == pytest.approx([1.0, 2 ** -0.5, 0.0, -1.0], abs=1e-6)


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_against_reference(center, seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(40, 6)) + 2.0  # a common offset, so that centring matters
    q = rng.normal(size=(25, 6)) + 2.0
    gl = rng.integers(0, 5, 40).tolist()
    ql = rng.integers(0, 5, 25).tolist()
    ks = (1, 3, 5, 10, 40, 100)
    want = ref_recall(q.tolist(), ql, g.tolist(), gl, ks, center)
    for chunk in (1, 7, 1000):
        got = retrieval_recall(torch.tensor(q), ql, torch.tensor(g), gl, ks, center=center, chunk_size=chunk)
        assert got == pytest.approx(want)
    _, idx = topk_neighbours(q, g, 40, center=center, chunk_size=7)
    assert idx.tolist() == ref_ranking(q.tolist(), g.tolist(), center)
    assert got[100] == got[40]  # k above the gallery size counts as the whole gallery


def test_centering_changes_ranking():
    # Without centring all gallery items point almost the same way; centring reveals the structure.
    g = torch.tensor([[10.0, 11.0], [10.0, 9.0]])
    q = torch.tensor([[10.0, 10.6]])
    assert topk_neighbours(q, g, 1, center=True)[1].item() == 0
    assert retrieval_recall(q, [1], g, [1, 0], ks=(1,), center=True) == {1: 1.0}
    assert ref_recall(q.tolist(), [1], g.tolist(), [1, 0], (1,), center=True) == {1: 1.0}


def test_exact_ties_broken_by_gallery_index():
    # One-hot queries make every similarity an exact gallery coordinate, so duplicates tie exactly.
    g = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    gl = [0, 1, 2, 3, 4, 5]
    q = torch.eye(3)
    _, idx = topk_neighbours(q, g, 6, chunk_size=2)
    assert idx.tolist() == ref_ranking(q.tolist(), g.tolist(), False)
    assert idx[0].tolist() == [0, 2, 4, 1, 3, 5]
    # Query 0 of class 4: tied with items 0, 2, 4 -> found at rank 3, not 1.
    assert retrieval_recall(q[:1], [4], g, gl, ks=(1, 2, 3)) == {1: 0.0, 2: 0.0, 3: 1.0}
    # Many ties at the top-k boundary: all similarities equal.
    v, i = stable_topk(torch.zeros(3, 10), 4)
    assert i.tolist() == [[0, 1, 2, 3]] * 3


def test_stable_topk_matches_sort():
    torch.manual_seed(0)
    s = torch.randint(0, 4, (50, 30)).float()  # lots of ties
    for k in (1, 5, 30):
        v, i = stable_topk(s, k)
        sv, si = torch.sort(s, dim=1, descending=True, stable=True)
        assert torch.equal(i, si[:, :k]) and torch.equal(v, sv[:, :k])


def test_exclude_self():
    x = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1]])
    _, idx = topk_neighbours(x, x, 5, exclude_self=True, chunk_size=2)
    assert idx.tolist() == [[1, 2], [0, 2], [1, 0]]


def test_bounded_size_medium():
    # A vectorised check at a size where chunking matters, against numpy's stable argsort.
    rng = np.random.default_rng(3)
    q = rng.normal(size=(600, 32)).astype(np.float32)
    g = rng.normal(size=(500, 32)).astype(np.float32)
    _, idx = topk_neighbours(q, g, 20, chunk_size=128)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    want = np.argsort(-(qn @ gn.T), axis=1, kind="stable")[:, :20]
    assert (idx.numpy() == want).mean() > 0.999  # float rounding may swap near-equal neighbours


def test_errors():
    g = torch.randn(4, 3)
    with pytest.raises(InputError, match="ks must be"):
        retrieval_recall(g, [0] * 4, g, [0] * 4, ks=(0,))
    with pytest.raises(ValueError, match="labels"):
        retrieval_recall(g, [0] * 3, g, [0] * 4)
    with pytest.raises(ValueError, match="dim"):
        topk_neighbours(torch.randn(2, 5), g, 1)
    with pytest.raises(InputError, match="NaN"):
        topk_neighbours(torch.full((1, 3), float("nan")), g, 1)
