from __future__ import annotations

import pytest
import torch
from helpers.methods import batch_for, build, train_losses

from vssl.errors import InputError
from vssl.losses import masked_mse, normalize_patches, patchify
from vssl.methods.videomae import VideoMAE, random_mask, split_by_mask, tube_mask


def test_tube_mask_is_one_spatial_mask_repeated_over_time():
    torch.manual_seed(0)
    m = tube_mask(3, (4, 7, 7), 0.9)
    assert m.shape == (3, 4 * 49)
    per = m.view(3, 4, 49)
    assert torch.equal(per, per[:, :1].expand_as(per))  # same mask in every temporal slice
    assert (per[:, 0].sum(1) == 44).all()  # round(0.9 * 49)
    assert not torch.equal(per[0, 0], per[1, 0])  # its own mask per clip


def test_random_mask_and_split():
    torch.manual_seed(0)
    m = random_mask(2, (2, 4, 4), 0.75)
    assert (m.sum(1) == 24).all()
    vis, msk = split_by_mask(m)
    assert vis.shape == (2, 8) and msk.shape == (2, 24)
    for b in range(2):
        assert not m[b, vis[b]].any() and m[b, msk[b]].all()
        assert torch.equal(vis[b], vis[b].sort().values)


def test_defaults_follow_the_paper():
    cfg = VideoMAE.Config()
    assert (cfg.mask_ratio, cfg.masking, cfg.decoder_depth, cfg.norm_target, cfg.crop) == (0.9, "tube", 4, "patch", 224)
    o = VideoMAE.RECIPE["optim"]
    assert (o["optimizer"], o["lr"], o["betas"], o["weight_decay"], o["warmup_epochs"]) == (
        "adamw", 1.5e-4, [0.9, 0.95], 0.05, 40.0)
    assert VideoMAE.RECIPE["data"]["clip_len"] == 16
    from vssl.models import build_backbone

    bb = build_backbone("vit_b")
    m = VideoMAE(bb, bb.feat_dim)
    assert m.decoder.dim == 384 and len(m.decoder.blocks) == 4 and m.decoder.blocks[0].attn.heads == 6
    assert m.decoder.head.out_features == 2 * 16 * 16 * 3


def test_encoder_sees_the_visible_tokens_only():
    m = build("videomae")
    seen = []
    orig = m.backbone.tokens
    m.backbone.tokens = lambda x, keep=None: seen.append(keep) or orig(x, keep)
    torch.manual_seed(0)
    out = m.training_step(batch_for(m))
    (keep,) = seen
    # 4 frames x 32 x 32 at 2x8x8: 2 x 4 x 4 tokens, 14 of 16 positions masked -> 4 visible
    assert keep.shape == (4, 4)
    assert abs(float(out.logs["mask_ratio"]) - 28 / 32) < 1e-6


def test_loss_is_the_masked_mse_of_normalised_pixels():
    m = build("videomae")
    x = torch.rand(4, 3, 4, 32, 32)
    m.augmented = lambda batch: (x, {})
    torch.manual_seed(5)
    got = m.training_step(batch_for(m)).loss
    torch.manual_seed(5)
    mask = tube_mask(4, (2, 4, 4), 0.9)
    from vssl.methods.common import norm

    vis, msk = split_by_mask(mask)
    pred = m.decoder(m.backbone.tokens(norm(x), vis), vis, msk, (2, 4, 4))
    tgt = normalize_patches(patchify(x, (2, 8, 8)))
    full = torch.zeros_like(tgt)
    full.scatter_(1, msk[..., None].expand(-1, -1, tgt.shape[-1]), pred)
    torch.testing.assert_close(got, masked_mse(full, tgt, mask))


def ramp_clips(b: int, t: int = 4, h: int = 32, w: int = 40, seed: int = 0) -> torch.Tensor:
    """uint8 (B, 1, T, H, W, 3) grey ramps across the frame, rising left to right or right to left
    (per clip): every normalised patch is the ramp with the clip's sign, so the masked patches can
    be told from the visible ones (uniform noise, as synthetic_batch's, cannot: its best
    reconstruction is the mean, loss 1)."""
    g = torch.Generator().manual_seed(seed)
    sign = torch.randint(0, 2, (b,), generator=g) * 2 - 1
    ramp = torch.linspace(-1, 1, w)
    v = 127.5 + 120 * sign[:, None] * ramp[None]  # (B, W)
    return v[:, None, None, None, :, None].expand(b, 1, t, h, w, 3).round().to(torch.uint8)


def test_tiny_run_loss_falls():
    m = build("videomae", min_scale=1.0, flip=False)
    batch = batch_for(m, batch_size=4)
    batch["clips"] = ramp_clips(4)
    losses = train_losses(m, 15, 3e-3, optimizer="adamw", batch=batch)
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses


def test_bad_settings_are_one_line():
    with pytest.raises(ValueError, match="mask_ratio must be in"):
        VideoMAE.Config(mask_ratio=1.0)
    with pytest.raises(ValueError, match="masking must be one of"):
        VideoMAE.Config(masking="cube")
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    with pytest.raises(InputError, match="needs a ViT backbone.*vit_tiny"):
        VideoMAE(bb, bb.feat_dim, VideoMAE.Config(crop=32))
    bb = build_backbone("vit_tiny")
    with pytest.raises(InputError, match="crop 30 must be a multiple"):
        VideoMAE(bb, bb.feat_dim, VideoMAE.Config(crop=30))


def test_cli_config_errors_are_one_line():
    from vssl.train.config import resolve_config

    with pytest.raises(InputError, match="videomae mask_ratio must be in"):
        resolve_config("videomae", overrides={"videomae.mask_ratio": 0.0})
