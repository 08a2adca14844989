from __future__ import annotations

import pytest
import torch
from helpers.methods import batch_for, build, train_losses
from test_videomae import ramp_clips

from vssl.errors import InputError
from vssl.methods.mgm import MGM, motion_guided_mask, token_motion


def _moving_square_field(t=8, h=16, w=16, side=4, step=2):
    """(1, 2, T, H, W) vectors: zero except a side x side square moving right by ``step`` cells a
    frame, whose cells carry (3, 4) (magnitude 5)."""
    mv = torch.zeros(1, 2, t, h, w)
    for f in range(t):
        x0 = f * step
        mv[0, 0, f, 4:4 + side, x0:x0 + side] = 3.0
        mv[0, 1, f, 4:4 + side, x0:x0 + side] = 4.0
    return mv


def test_token_motion_pools_the_magnitude_onto_the_token_grid():
    mv = torch.zeros(1, 2, 4, 8, 8)
    mv[0, 0, 0:2, 0:4, 4:8] = 3.0
    mv[0, 1, 0:2, 0:4, 4:8] = -4.0  # token (t=0, h=0, w=1) of a 2 x 2 x 2 grid: magnitude 5
    m = token_motion(mv, (2, 2, 2))
    expect = torch.zeros(1, 2, 2, 2)
    expect[0, 0, 0, 1] = 5.0
    torch.testing.assert_close(m, expect)


def test_mask_picks_the_high_motion_tokens_and_follows_them():
    mv = _moving_square_field(w=24)  # a 4 x 4-cell square moving 2 cells a frame
    motion = token_motion(mv, (4, 8, 12))  # tubelets of 2 frames x 2 x 2 cells
    # per slice the square covers 2 rows x 3 token columns: the middle column in both frames
    # (magnitude 5), the side ones in one (2.5); 6 moving tokens of 96, all others still
    torch.manual_seed(0)
    mask = motion_guided_mask(motion, ratio=6 / 96, smooth=1).view(4, 8, 12)
    for s in range(4):
        moving = motion[0, s] > 0
        assert moving.sum() == 6 and motion[0, s].max() == 5.0
        assert torch.equal(mask[s], moving)  # exactly the moving tokens are masked
    # the masked region moves with the square: one token column to the right per slice
    cols = [mask[s].nonzero()[:, 1].float().mean() for s in range(4)]
    assert cols == [1.0, 3.0, 5.0, 7.0], cols
    # with more to mask than moves, the moving tokens are masked first
    more = motion_guided_mask(motion, ratio=0.5, smooth=1).view(4, 8, 12)
    assert all(more[s][motion[0, s] > 0].all() for s in range(4))


def test_smoothing_keeps_the_peak_and_fills_the_ratio():
    motion = torch.zeros(1, 2, 7, 7)
    motion[0, :, 3, 3] = 10.0
    torch.manual_seed(0)
    mask = motion_guided_mask(motion, ratio=9 / 49, smooth=3).view(2, 7, 7)
    for s in range(2):
        assert mask[s].sum() == 9 and mask[s, 2:5, 2:5].all()  # the 3 x 3 neighbourhood of the peak
    torch.manual_seed(0)
    still = motion_guided_mask(torch.zeros(2, 2, 7, 7), ratio=0.5)  # no motion: random, still the ratio
    assert (still.view(2, 2, 49).sum(2) == 24).all()


def test_method_masks_where_the_cache_says_things_move():
    m = build("mgm", smooth=1, min_scale=1.0, flip=False)
    grid = (2, 4, 4)
    mv = torch.zeros(4, 2, 4, 8, 8)
    mv[:, 0, :, 0:2, 0:2] = 6.0  # top-left token of both slices moves, nothing else
    batch = batch_for(m)
    mask = m.make_mask(batch, {"mv": mv}, grid, torch.device("cpu")).view(4, 2, 16)
    assert mask[:, :, 0].all()  # the moving token is always masked
    assert abs(float(mask.float().mean()) - 14 / 16) < 1e-6


def test_clips_without_vectors_fall_back_and_a_batch_without_any_is_one_line():
    m = build("mgm")
    batch = batch_for(m)
    batch["mv_valid"] = torch.tensor([1.0, 0.0, 1.0, 1.0])
    torch.manual_seed(0)
    out = m.training_step(batch)
    assert abs(float(out.logs["no_motion"]) - 0.25) < 1e-6 and torch.isfinite(out.loss)
    batch["mv_valid"] = torch.zeros(4)
    with pytest.raises(InputError, match="none of the batch's clips has motion vectors.*videomae"):
        m.training_step(batch)
    del batch["mv"]
    with pytest.raises(InputError, match="mgm needs the clips' motion vectors"):
        m.training_step(batch)


def test_requires_the_clip_window_of_vectors():
    m = build("mgm")
    assert m.requires.mv and m.requires.mv_window == "clip"
    assert MGM.RECIPE["optim"]["optimizer"] == "adamw" and MGM.BACKBONE == "vit_b"


def test_motion_vector_target():
    m = build("mgm", mv_target=True, mv_weight=2.0)
    assert m.decoder.head.out_features == 2 * 8 * 8 * 3 + 2
    torch.manual_seed(0)
    out = m.training_step(batch_for(m))
    total = out.logs["loss_pixels"] + 2.0 * out.logs["loss_mv"]
    torch.testing.assert_close(out.loss.detach(), total)
    with pytest.raises(ValueError, match="mgm smooth must be an odd"):
        MGM.Config(smooth=2)


def test_tiny_run_loss_falls():
    m = build("mgm", min_scale=1.0, flip=False)
    batch = batch_for(m, batch_size=4)
    batch["clips"] = ramp_clips(4)
    losses = train_losses(m, 15, 3e-3, optimizer="adamw", batch=batch)
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses
