"""ASCNet: the 1x / 2x clips are cut from the data layer's long views, the bank feeds the SCP retrieval."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import T, batch_for, build

from vssl.data.requires import Requires
from vssl.methods.ascnet import Config


def _frame_coded(b: int, views: int, t: int) -> torch.Tensor:
    """uint8 (B, V, t, 4, 4, 3) whose pixels hold 10 * view + frame index."""
    x = torch.zeros(b, views, t, 4, 4, 3, dtype=torch.uint8)
    for v in range(views):
        for f in range(t):
            x[:, v, f] = 10 * v + f
    return x


def test_requires_and_speed_clips():
    m = build("ascnet", fast_speed=3)
    assert m.requires == Requires(views=2, clip_factor=3)
    slow, fast = m.speed_clips(_frame_coded(2, 2, 3 * T))
    assert slow[0, :, 0, 0, 0].tolist() == list(range(T))  # view 0, consecutive frames
    assert fast[0, :, 0, 0, 0].tolist() == [10 + 3 * i for i in range(T)]  # view 1, every 3rd frame


def test_bank_fills_and_excludes_own_video():
    m = build("ascnet").train()
    batch = batch_for(m)
    assert batch["clips"].shape[2] == 2 * T
    out = m.training_step(batch)
    assert float(out.logs["scp_found"]) == 1.0  # other videos of the batch at the same speed
    m.after_step(0)
    b = batch["clips"].shape[0]
    assert int(m.bank.num_enqueued) == 2 * b
    assert sorted(m.bank.speed[: 2 * b].tolist()) == [1] * b + [2] * b
    assert sorted(m.bank.video[: 2 * b].tolist()) == sorted(batch["index"].tolist() * 2)
    one = {**batch, "index": torch.zeros_like(batch["index"])}  # one video: only its own clips anywhere
    m2 = build("ascnet").train()
    m2.training_step(one)
    m2.after_step(0)
    assert float(m2.training_step(one).logs["scp_found"]) == 0.0


def test_config_errors_are_one_line():
    for kw, msg in (({"fast_speed": 1}, "fast_speed must be an integer >= 2"), ({"bank_size": -1}, "bank_size"),
                    ({"acp_weight": 0.0, "scp_weight": 0.0}, "not both 0")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)
