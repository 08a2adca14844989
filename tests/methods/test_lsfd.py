"""LSFD: the long view is the subsampled long clip, the short views its sub-sequences in order; the
aggregators; the terms switch with their weights."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import T, batch_for, build

from vssl.data.requires import Requires
from vssl.methods.lsfd import Config, short_starts


def _frame_coded(b: int, views: int, t: int) -> torch.Tensor:
    x = torch.zeros(b, views, t, 2, 2, 3, dtype=torch.uint8)
    for v in range(views):
        for f in range(t):
            x[:, v, f] = 100 * v + f
    return x


def test_long_and_short_views_are_cut_from_the_long_clip():
    m = build("lsfd", long_factor=3, short_views=3)
    assert m.requires == Requires(views=2, clip_factor=3)
    longs, shorts = m.cut(_frame_coded(2, 2, 3 * T))
    assert [x[0, :, 0, 0, 0].tolist() for x in longs] == [[3 * i for i in range(T)], [100 + 3 * i for i in range(T)]]
    assert [x[0, :, 0, 0, 0].tolist() for x in shorts] == [list(range(s, s + T)) for s in (0, T, 2 * T)]
    assert short_starts(4, 10, 3) == [0, 3, 6] and short_starts(4, 8, 1) == [0]
    assert build("lsfd", inst_weight=0.0).requires == Requires(views=1, clip_factor=2)


@pytest.mark.parametrize("aggregate", ["mlp", "gru"])
def test_aggregators_step(aggregate):
    m = build("lsfd", aggregate=aggregate).train()
    out = m.training_step(batch_for(m))
    assert torch.isfinite(out.loss) and set(out.logs) == {"stat", "nonstat", "inst"}
    out.loss.backward()
    assert all(p.grad is not None for p in m.aggregate.parameters())


def test_gru_aggregate_depends_on_the_order_of_the_short_views():
    m = build("lsfd", aggregate="gru").eval()
    phi = torch.randn(3, 2, m.cfg.dim)
    assert not torch.allclose(m.aggregate(phi), m.aggregate(phi.flip(1)))


def test_without_instance_term_one_view():
    m = build("lsfd", inst_weight=0.0).train()
    batch = batch_for(m)
    assert batch["clips"].shape[1] == 1
    assert "inst" not in m.training_step(batch).logs


def test_config_errors_are_one_line():
    for kw, msg in (({"long_factor": 1}, "long_factor"), ({"aggregate": "sum"}, "aggregate"),
                    ({"stat_weight": 0.0, "nonstat_weight": 0.0, "inst_weight": 0.0}, "not all 0")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)
