"""TEC: the cut clips follow their drawn speed, direction and start; the relative labels and the
3-way pair classes match the clips; every pair has a positive from another video."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import T, batch_for, build

from vssl.data.requires import Requires
from vssl.methods.tec import Config, pair_class


def test_cut_clips_follow_their_transformations():
    m = build("tec")
    assert m.requires == Requires(views=1, clip_factor=4)
    L = 4 * T
    long = torch.arange(L, dtype=torch.uint8).view(1, L, 1, 1, 1).expand(6, L, 2, 2, 3).contiguous()
    torch.manual_seed(0)
    tr, _ = m.draw(6, T, L)
    a, b = m.cut(long, tr, T)
    for i in range(6):
        sa, ra, pa, sb, rb, pb = tr[i].tolist()
        exp_a = [pa + sa * k for k in range(T)][:: -1 if ra else 1]
        exp_b = [pb + sb * k for k in range(T)][:: -1 if rb else 1]
        assert a[i, :, 0, 0, 0].tolist() == exp_a and b[i, :, 0, 0, 0].tolist() == exp_b
        assert max(exp_a + exp_b) < L
    # two pairs share a relative id iff speeds, directions and the start offset agree
    table, key = m.transformations(T, L)
    rel_of = {tuple(r[[0, 1, 3, 4]].tolist()) + (int(r[5] - r[2]),) for r in table}
    assert len(rel_of) == int(key.max()) + 1
    for i in range(len(table)):
        for j in (0, 7, len(table) - 1):
            same = (table[i, [0, 1, 3, 4]].tolist() == table[j, [0, 1, 3, 4]].tolist()
                    and int(table[i, 5] - table[i, 2]) == int(table[j, 5] - table[j, 2]))
            assert same == bool(key[i] == key[j])


def test_every_pair_has_a_positive_and_the_step_runs():
    m = build("tec").train()
    torch.manual_seed(1)
    _, rel = m.draw(8, T, 4 * T)
    counts = torch.bincount(rel)
    assert all(int(counts[k]) >= 2 for k in rel.tolist())
    out = m.training_step(batch_for(m, batch_size=6))
    assert float(out.logs["with_positive"]) == 1.0 and torch.isfinite(out.loss)


def test_pair_classes_hand_worked():
    # a = frames [0, 4), b = [4, 8): ordered; swapped: unordered; b = [3, 7): overlapping
    s = torch.tensor
    assert pair_class(s([0, 4, 0]), s([4, 4, 4]), s([4, 0, 3]), s([4, 4, 4])).tolist() == [1, 2, 0]


def test_config_errors_are_one_line():
    for kw, msg in (({"span_factor": 1}, "must be >= max_speed"), ({"shift_step": -1}, "shift_step"),
                    ({"temperature": 0.0}, "temperature")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)
