"""CORP: the order labels follow the clips' start frames; CORP_m's 3-way pair labels; config checks."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.methods import batch_for, build

import vssl.methods.corp as corp_mod
from vssl.data.requires import Requires
from vssl.methods.corp import Config, corp_m_labels


def test_corp_f_orders_clips_by_their_start_frames(monkeypatch):
    m = build("corp").train()
    batch = batch_for(m)
    batch["t0"] = torch.tensor([[3, 9], [20, 1], [5, 5], [0, 7]])
    seen = {}
    real = corp_mod.contrast_order

    def spy(z, w, video, time, *, temperature):
        seen.update(video=video, time=time)
        return real(z, w, video, time, temperature=temperature)

    monkeypatch.setattr(corp_mod, "contrast_order", spy)
    out = m.training_step(batch)
    assert seen["time"].tolist() == [3, 9, 20, 1, 5, 5, 0, 7]  # clip (video b, view v) at row 2b + v
    assert seen["video"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # U = V = I at the start: W is symmetric, so the order logits are 0 and the order loss is log 2
    assert math.isclose(float(out.logs["order"]), math.log(2), rel_tol=1e-5)
    assert torch.allclose(m.pair_matrix(), torch.eye(m.cfg.proj_dim))


def test_corp_m_labels_hand_worked():
    lab = corp_m_labels(torch.tensor([0, 0, 1, 1]), torch.tensor([4, 2, 7, 7]))
    assert lab.tolist() == [[-1, 2, 0, 0], [1, -1, 0, 0], [0, 0, -1, -1], [0, 0, -1, -1]]


def test_corp_m_step_classifies_every_pair_of_a_group():
    m = build("corp", variant="m", clips=3).train()
    batch = batch_for(m)
    assert batch["clips"].shape[1] == 3
    out = m.training_step(batch)
    assert torch.isfinite(out.loss) and 0.0 <= float(out.logs["pair_acc"]) <= 1.0
    assert build("corp", variant="m", clips=3, gap=2).requires == Requires(views=3, view_gap=2)


def test_config_errors_are_one_line():
    for kw, msg in (({"variant": "x"}, "variant"), ({"clips": 3}, "clips must be 2 for variant f"),
                    ({"gap": 4}, "variant m only"), ({"temperature": 0.0}, "temperature")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)
