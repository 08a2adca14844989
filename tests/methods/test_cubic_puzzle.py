"""Space-time cubic puzzles: the pieces are the grid cells, the label undoes the shuffle, the
CDJP-style damage, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.methods import build, train_losses

from vssl.data.requires import Requires
from vssl.methods.cubic_puzzle import SPATIAL_CELLS, Config, cut_pieces
from vssl.methods.pretext import permutations


def _grid_clip(b=2, el=2, s=8):
    """(B, 1, 4 * el, s, s): the value of a pixel is 10 * temporal cell + 2 * row cell + column cell."""
    t = torch.arange(4 * el).div(el, rounding_mode="floor").view(-1, 1, 1)
    r = (torch.arange(s) >= s // 2).long().view(1, -1, 1)
    c = (torch.arange(s) >= s // 2).long().view(1, 1, -1)
    v = (10 * t + 2 * r + c).float()
    return v.expand(b, 1, -1, -1, -1).clone()


def test_cut_pieces_by_hand():
    x = _grid_clip()
    off = torch.zeros(2, 4, 2, dtype=torch.long)
    off[0, 1] = torch.tensor([1, 2])  # piece 1 of sample 0 sits lower and to the right inside its cell
    p = cut_pieces(x, torch.tensor([0, 1]), torch.tensor([2, 3]), off, 2)  # spatial at time cell 2; temporal at cell (1, 1)
    assert p.shape == (2, 4, 1, 2, 2, 2)
    assert [float(p[0, i].mean()) for i in range(4)] == [20 + 2 * r + c for r, c in SPATIAL_CELLS]
    assert [float(p[1, i].mean()) for i in range(4)] == [10 * i + 3 for i in range(4)]
    assert torch.equal(p[0, 1], x[0, :, 4:6, 1:3, 6:8])  # cell (0, 1) starts at column 4, offset (1, 2)


def test_label_undoes_the_shuffle(monkeypatch):
    m = build("cubic_puzzle", jitter=0, channel_replication=0.0, normalize="none")  # crop 24: cells of 12
    clips = (_grid_clip(b=8, el=2, s=24) * 5).to(torch.uint8).permute(0, 2, 3, 4, 1).expand(-1, -1, -1, -1, 3)
    monkeypatch.setattr(m.augment, "forward", lambda x: (x, {}, None))  # the clip as it is (already 24 x 24)
    torch.manual_seed(0)
    x, label = m.puzzles(clips.contiguous())
    assert x.shape == (8, 4, 3, 2, 12, 12)
    perms = permutations(4)
    for n in range(8):
        axis, order = divmod(int(label[n]), 24)
        value = [round(float(x[n, i].mean()) * 255 / 5) for i in range(4)]  # which cell each position holds
        grid = [value[int(pos)] for pos in torch.argsort(perms[order])]  # put every piece back in its slot
        if axis == 0:  # spatial: one time cell, the 2 x 2 cells in order
            assert [g % 10 for g in grid] == [0, 1, 2, 3] and len({g // 10 for g in grid}) == 1
        else:  # temporal: one spatial cell, the time cells in order
            assert [g // 10 for g in grid] == [0, 1, 2, 3] and len({g % 10 for g in grid}) == 1
    assert len(set((label // 24).tolist())) == 2  # both kinds of puzzle drawn


def test_loss_and_classes(monkeypatch):
    m = build("cubic_puzzle")
    assert m.requires == Requires(views=1, clip_factor=4) and m.fc7.out_features == 48
    assert build("cubic_puzzle", axis="spatial").requires.clip_factor == 1
    assert build("cubic_puzzle", axis="temporal").fc7.out_features == 24
    m = build("cubic_puzzle", rotation=False)  # the puzzle's cross-entropy alone
    assert m.rot_head is None and m.inpaint_head is None and m.colour_head is None
    seen = {}
    m.fc7.register_forward_hook(lambda mod, inp, out: seen.update(logits=out))
    real = m.prepare
    monkeypatch.setattr(m, "prepare", lambda c: seen.setdefault("p", real(c)))
    clips = torch.randint(0, 256, (4, 1, 16, 32, 40, 3), dtype=torch.uint8)
    out = m.training_step({"clips": clips})
    torch.testing.assert_close(out.loss, F.cross_entropy(seen["logits"].float(), seen["p"]["label"]))
    assert set(out.logs) == {"acc"}


def test_damaged_puzzles():
    clips = torch.randint(0, 256, (6, 16, 32, 40, 3), dtype=torch.uint8)
    m = build("cubic_puzzle", damage="drop_gray", normalize="none")
    x, _ = m.puzzles(clips)
    blank = (x.flatten(2).abs().sum(-1) == 0)  # (B, 4): the dropped piece
    assert blank.sum(1).tolist() == [1] * 6
    assert torch.allclose(x[:, :, 0], x[:, :, 1]) and torch.allclose(x[:, :, 1], x[:, :, 2])  # grey
    x, _ = build("cubic_puzzle", damage="none", normalize="none", channel_replication=0.0).puzzles(clips)
    assert not (x.flatten(2).abs().sum(-1) == 0).any()


def test_bad_values_are_one_line():
    for kw, msg in (({"axis": "xy"}, "axis must be one of"), ({"crop": 23}, "crop must be even"),
                    ({"jitter": 12, "crop": 24}, "jitter must be"), ({"damage": "inpaint"}, "damage must be one of")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)


def test_puzzle_learns():
    """Temporal puzzles of clips that brighten over time: the order is learnt within a few steps."""
    m = build("cubic_puzzle", axis="temporal", dropout=0.0, channel_replication=0.0, jitter=0, crop=16, hidden_dim=64,
              rotation=False)
    g = torch.Generator().manual_seed(0)
    level = (torch.arange(8) * 25).view(1, 1, 8, 1, 1, 1)
    clips = (level + torch.randint(0, 10, (16, 1, 8, 18, 18, 3), generator=g)).to(torch.uint8)
    losses = train_losses(m, 12, 0.01, batch={"clips": clips}, optimizer="adamw")
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def _identity_crop(m, monkeypatch):
    monkeypatch.setattr(m.augment, "forward", lambda x: (x, {}, None))  # the clip as it is (already the crop)


def _steps(m, batch, steps, key, lr=0.01):
    """``logs[key]`` over ``steps`` AdamW steps of ``m`` on one fixed batch (the draws seeded per step)."""
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr)
    out = []
    for step in range(steps):
        torch.manual_seed(step)
        o = m.training_step(batch)
        opt.zero_grad()
        o.loss.backward()
        opt.step()
        out.append(float(o.logs[key]))
    return out


def test_rotation_label_is_the_rotation_of_a_cell_and_its_loss_is_added(monkeypatch):
    m = build("cubic_puzzle", normalize="none", channel_replication=0.0, rotation_weight=0.5)
    assert Config().rotation and m.rot_head.out_features == 4  # on by default: the paper's multi-task number
    _identity_crop(m, monkeypatch)
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (6, 1, 8, 24, 24, 3), dtype=torch.uint8, generator=g)  # 4 cells of 2 frames
    torch.manual_seed(3)
    p = m.prepare(clips[:, 0])
    src = clips[:, 0].permute(0, 4, 1, 2, 3).float() / 255  # (B, 3, 8, 24, 24): what the rotation sees, unrotated
    assert p["rot_x"].shape == (6, 3, 2, 24, 24)
    for n in range(6):
        hits = [(c, k) for c in range(4) for k in range(4)
                if torch.equal(torch.rot90(src[n, :, 2 * c:2 * c + 2], k, dims=(-2, -1)), p["rot_x"][n])]
        assert len(hits) == 1 and hits[0][1] == int(p["rot_label"][n]), (n, hits)
    assert len(set(p["rot_label"].tolist())) > 1
    seen = {}
    m.fc7.register_forward_hook(lambda mod, inp, out: seen.update(puzzle=out))
    m.rot_head.register_forward_hook(lambda mod, inp, out: seen.update(rot=out))
    real = m.prepare
    monkeypatch.setattr(m, "prepare", lambda c: seen.setdefault("p", real(c)))
    out = m.training_step({"clips": clips})
    ce_p = F.cross_entropy(seen["puzzle"].float(), seen["p"]["label"])
    ce_r = F.cross_entropy(seen["rot"].float(), seen["p"]["rot_label"])
    torch.testing.assert_close(out.loss, ce_p + 0.5 * ce_r)
    torch.testing.assert_close(out.logs["rot_loss"], ce_r.detach())
    assert {"acc", "rot_acc", "rot_loss", "puzzle_loss"} <= set(out.logs)


def test_rotation_head_learns():
    """Clips darker at the top than at the bottom: the rotation is learnt in a few steps."""
    m = build("cubic_puzzle", axis="spatial", dropout=0.0, channel_replication=0.0, crop=16, jitter=0)
    g = torch.Generator().manual_seed(0)
    rows = (torch.arange(18) * 10).view(1, 1, 1, 18, 1, 1)
    clips = (rows + torch.randint(0, 10, (8, 1, 4, 18, 18, 3), generator=g)).to(torch.uint8)
    rot = _steps(m, {"clips": clips}, 10, "rot_loss")
    assert sum(rot[-3:]) / 3 < 0.6 * sum(rot[:3]) / 3, rot


def _missing_value(visible):
    """The cell value a puzzle of `_grid_clip` lacks, from the constant values of its 3 visible pieces."""
    if len({v // 10 for v in visible}) == 1:  # spatial: one time cell, 3 of the 4 spatial cells
        return 10 * (visible[0] // 10) + ({0, 1, 2, 3} - {v % 10 for v in visible}).pop()
    return visible[0] % 10 + 10 * ({0, 1, 2, 3} - {v // 10 for v in visible}).pop()  # temporal


def test_inpaint_target_is_the_blanked_piece_at_low_resolution(monkeypatch):
    m = build("cubic_puzzle", damage="drop", inpaint=True, rotation=False, jitter=0, channel_replication=0.0,
              normalize="none", recovery_grid=3)
    _identity_crop(m, monkeypatch)
    clips = (_grid_clip(b=8, el=2, s=24) * 5).to(torch.uint8).permute(0, 2, 3, 4, 1).expand(-1, -1, -1, -1, 3)
    torch.manual_seed(0)
    p = m.prepare(clips.contiguous())
    assert p["inpaint"].shape == (8, 3, 2, 3, 3) and m.inpaint_head.out_dim == 3 * 2 * 3 * 3
    for n in range(8):
        hole = int(p["hole"][n])
        assert float(p["x"][n, hole].abs().sum()) == 0.0  # blanked in the input, not in the target
        visible = [round(float(p["x"][n, i].mean()) * 255 / 5) for i in range(4) if i != hole]
        want = torch.full((3, 2, 3, 3), _missing_value(visible) * 5 / 255)
        torch.testing.assert_close(p["inpaint"][n], want)


def test_inpaint_loss_falls():
    """Clips of 8 brightness levels: the missing piece's brightness is learnt from the visible ones."""
    m = build("cubic_puzzle", damage="drop", inpaint=True, rotation=False, dropout=0.0, crop=16, jitter=0)
    g = torch.Generator().manual_seed(0)
    level = torch.linspace(0, 250, 8).view(8, 1, 1, 1, 1, 1)
    clips = (level + torch.randint(0, 5, (8, 1, 8, 18, 18, 3), generator=g)).to(torch.uint8)
    losses = _steps(m, {"clips": clips}, 10, "inpaint_loss")
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_colourise_targets_the_colour_the_grey_pieces_lack(monkeypatch):
    m = build("cubic_puzzle", damage="drop_gray", colourise=True, rotation=False, normalize="none",
              channel_replication=0.0, recovery_grid=2)
    _identity_crop(m, monkeypatch)
    rgb = torch.tensor([200.0, 100.0, 50.0])
    clips = rgb.to(torch.uint8).expand(4, 8, 24, 24, 3).contiguous()  # one colour everywhere
    torch.manual_seed(0)
    p = m.prepare(clips)
    luma = 0.299 * 200 + 0.587 * 100 + 0.114 * 50  # ITU-R 601, as rgb_to_grayscale
    want = ((rgb - luma) / 255).view(1, 1, 3, 1, 1, 1).expand(4, 4, 3, 1, 2, 2)
    torch.testing.assert_close(p["colour"], want, atol=2e-3, rtol=0)  # uint8 rounding of the grey
    seen = {}
    m.colour_head.register_forward_hook(lambda mod, inp, out: seen.update(rows=inp[0].shape[0]))
    out = m.training_step({"clips": clips[:, None]})
    assert seen["rows"] == 4 * 3 and "colour_loss" in out.logs  # every piece but the missing one
    g = torch.Generator().manual_seed(0)
    noisy = (rgb.view(1, 1, 1, 1, 1, 3) + torch.randint(-20, 20, (8, 1, 8, 18, 18, 3), generator=g)).to(torch.uint8)
    m = build("cubic_puzzle", damage="drop_gray", colourise=True, rotation=False, dropout=0.0, crop=16, jitter=0)
    losses = _steps(m, {"clips": noisy}, 10, "colour_loss")
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_extra_tasks_bad_values_are_one_line():
    from vssl.errors import InputError
    from vssl.train.config import resolve_config

    for kw, msg in (({"inpaint": True}, "inpaint needs damage=drop or drop_gray"),
                    ({"colourise": True, "damage": "drop"}, "colourise needs damage=drop_gray"),
                    ({"rotation_weight": -1.0}, "rotation_weight and recovery_weight must be >= 0"),
                    ({"recovery_grid": 0}, "recovery_grid must be an integer >= 1")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)
    with pytest.raises(InputError) as e:
        resolve_config("cubic_puzzle", overrides={"cubic_puzzle.colourise": True})
    assert "colourise needs damage=drop_gray" in str(e.value) and "\n" not in str(e.value)
