from __future__ import annotations

import torch
from helpers.methods import SIZE, B, batch_for, build

from vssl.data.requires import Requires


def test_online_and_cached_static_frames_and_variants():
    m = build("be")
    assert m.requires == Requires(views=1, neg_clip=True, static=True)
    batch = batch_for(m)
    assert torch.isfinite(m.training_step(batch).loss)
    batch["static"] = torch.randint(0, 256, (B, *SIZE, 3), dtype=torch.uint8)  # --static-frames cache
    assert torch.isfinite(m.training_step(batch).loss)
    other = build("be", key_view="other_clip", augment="mocov2")
    assert other.requires.views == 2
    assert torch.isfinite(other.training_step(batch_for(other)).loss)
    tri = build("be", loss="triplet")
    assert torch.isfinite(tri.training_step(batch_for(tri)).loss)


def test_distracted_clip_is_the_be_mix_of_the_augmented_clip():
    """With lambda_max = 0 the distracted query is just the augmented clip (static frame unused)."""
    m = build("be", lambda_max=0.0)
    x = torch.rand(2, 3, 4, *SIZE)
    torch.manual_seed(5)
    a = m._distracted(x, None)
    assert a.shape == (2, 3, 4, 24, 24) and a.min() >= 0 and a.max() <= 1


def test_positive_key_is_the_same_segment_undistracted(monkeypatch):
    """BE reference (``get_be_items``): the positive is the anchor's own segment, augmented apart."""
    import vssl.methods.be as be_mod

    seen = {}
    monkeypatch.setattr(be_mod, "intra_video_contrast", lambda enc, q, k, n, cfg: seen.update(q=q, k=k))
    m = build("be", lambda_max=0.0)
    batch = batch_for(m, batch_size=2)
    white = torch.full_like(batch["clips"][:, :1], 255)
    batch["clips"] = torch.cat([white, torch.zeros_like(white)], dim=1)  # clip 1 white, clip 2 (if any) black
    m.training_step(batch)
    black = m_norm(torch.zeros(1, 3, 1, 1, 1))
    assert (seen["k"] - black).mean() > 1.0  # the white clip 1 (rotation adds black corners only)
    o = build("be", lambda_max=0.0, key_view="other_clip")
    o.training_step(batch)
    assert (seen["k"] - black).abs().amax() < 1e-4


def m_norm(x):
    from vssl.methods.common import norm

    return norm(x)


def test_negative_gets_gradient_and_options_are_validated():
    from vssl.methods.common import intra_video_contrast

    m = build("be")
    q, k, n = (torch.randn(2, 3, 4, 24, 24) for _ in range(3))
    n.requires_grad_(True)
    intra_video_contrast(m.enc, q, k, n, m.cfg).loss.backward()
    assert n.grad is not None and n.grad.abs().sum() > 0
    import pytest

    with pytest.raises(ValueError, match="be key_view"):
        build("be", key_view="clip3")
