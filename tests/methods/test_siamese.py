"""vssl.methods.siamese: the collapse monitor, view pairings, solarisation, view augmentation."""

from __future__ import annotations

import math

import pytest
import torch

from vssl.methods.siamese import ViewAugment, collapse_stats, mlp, ordered_pairs, solarize, unordered_pairs


def test_collapse_stats_of_known_spectra():
    # 4 samples +-e1, +-e2 in D = 4: centred, two equal singular values -> effective rank 2
    z = torch.tensor([[1.0, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0]])
    s = collapse_stats(z, "emb")
    assert float(s["emb_rank"]) == pytest.approx(2.0, rel=1e-5)
    # per-dimension std of the normalised rows: dims 1, 2 have std sqrt(2/3), dims 3, 4 zero
    assert float(s["emb_std"]) == pytest.approx(2 * math.sqrt(2 / 3) / 4 * 2, rel=1e-5)
    # complete collapse: every row the same -> std 0, rank 1
    c = collapse_stats(torch.ones(5, 3), "rep")
    assert float(c["rep_std"]) == pytest.approx(0.0, abs=1e-7) and float(c["rep_rank"]) == pytest.approx(1.0)
    # dimensional collapse: rows on one line -> rank 1 while the std stays up
    line = torch.randn(16, 1) * torch.tensor([[1.0, 2.0, -1.0]])
    d = collapse_stats(line, "emb")
    assert float(d["emb_rank"]) == pytest.approx(1.0, abs=1e-3) and float(d["emb_std"]) > 0.5
    assert collapse_stats(torch.randn(1, 3), "emb") == {}
    # D > B goes through the Gram matrix of the samples: same value as the SVD of the centred rows
    w = torch.randn(6, 40, dtype=torch.float64)
    sv = torch.linalg.svdvals(w - w.mean(0))
    q = sv / sv.sum()
    assert float(collapse_stats(w, "a")["a_rank"]) == pytest.approx(float(torch.exp(-(q * q.log()).sum())), rel=1e-5)


def test_pairs():
    assert ordered_pairs(2) == [(0, 1), (1, 0)]
    assert len(ordered_pairs(4)) == 12 and unordered_pairs(3) == [(0, 1), (0, 2), (1, 2)]


def test_solarize_inverts_bright_values_of_chosen_clips():
    x = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1).expand(2, 3, 1).clone()
    torch.testing.assert_close(solarize(x, 1.0)[0].flatten(), torch.tensor([0.2, 0.5, 0.1]))
    assert torch.equal(solarize(x, 0.0), x)


def test_view_augment_styles_and_mlp():
    clips = torch.randint(0, 256, (2, 3, 4, 32, 40, 3), dtype=torch.uint8)
    for style, n in (("mocov2", 1), ("byol", 2)):
        aug = ViewAugment(24, 0.2, style)
        assert len(aug.augs) == n
        views = aug(clips)
        assert len(views) == 3 and all(v.shape == (2, 3, 4, 24, 24) for v in views)
    byol = ViewAugment(24, 0.08, "byol")
    assert [a.blur_p for a in byol.augs] == [1.0, 0.1] and byol.solarize_p == (0.0, 0.2)
    with pytest.raises(ValueError, match="augment must be one of"):
        ViewAugment(24, 0.2, "simclr")
    net = mlp([8, 16, 4], hidden_bias=True, last_bias=False, last_norm="bn")
    assert [type(m).__name__ for m in net] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
