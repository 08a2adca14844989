"""Space-time cubic puzzles: the pieces are the grid cells, the label undoes the shuffle, the
CDJP-style damage, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from method_helpers import build, train_losses

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
    seen = {}
    m.fc7.register_forward_hook(lambda mod, inp, out: seen.update(logits=out))
    real = m.puzzles
    monkeypatch.setattr(m, "puzzles", lambda c: seen.setdefault("p", real(c)))
    clips = torch.randint(0, 256, (4, 1, 16, 32, 40, 3), dtype=torch.uint8)
    loss = m.training_step({"clips": clips}).loss
    torch.testing.assert_close(loss, F.cross_entropy(seen["logits"].float(), seen["p"][1]))


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
    m = build("cubic_puzzle", axis="temporal", dropout=0.0, channel_replication=0.0, jitter=0, crop=16, hidden_dim=64)
    g = torch.Generator().manual_seed(0)
    level = (torch.arange(8) * 25).view(1, 1, 8, 1, 1, 1)
    clips = (level + torch.randint(0, 10, (16, 1, 8, 18, 18, 3), generator=g)).to(torch.uint8)
    losses = train_losses(m, 12, 0.01, batch={"clips": clips}, optimizer="adamw")
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
