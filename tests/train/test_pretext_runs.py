"""The pretext tasks through the training loop on the tiny cache: the data layer gives what their
``requires`` asks (tuples, sample rates), a few steps run, and ``vssl eval`` feeds the same input scaling."""

from __future__ import annotations

import json
import math

import pytest
from helpers.training import tiny_config

from vssl.train.loop import pretrain

PRETEXT = ["vcop", "pace", "rotnet3d", "cubic_puzzle"]


# what they ask of the data layer: tuples, sample rates with wrap-around, 4 x clip_len frames (rotnet3d's plain
# clip is the contract test's)
@pytest.mark.parametrize("method", ["vcop", "pace", "cubic_puzzle"])
def test_pretext_pretrain_runs(tiny_cache, tmp_path, method):
    out = pretrain(tiny_config(method, tiny_cache), tmp_path / method, quiet=True)
    assert out["steps"] == 2 and math.isfinite(out["loss"])
    rows = [json.loads(x) for x in (tmp_path / method / "metrics.jsonl").read_text().splitlines()]
    assert any("acc" in r or "train/acc" in r for r in rows), rows[-1]  # the pretext accuracy is logged
    if method == "cubic_puzzle":  # and that of its rotation loss (on by default)
        assert any("rot_acc" in r or "train/rot_acc" in r for r in rows), rows[-1]


@pytest.mark.parametrize("method", PRETEXT)
def test_eval_reads_the_input_scaling(method):
    from vssl.eval.features import normalization_of_config
    from vssl.train.config import resolve_config, to_dict

    for how in ("none", "kinetics"):
        cfg = resolve_config(method, overrides={f"{method}.normalize": how})
        assert normalization_of_config(to_dict(cfg)) == how


def test_pace_pretrain_follows_its_step_schedule(tiny_cache, tmp_path):
    """Pace's recipe (StepLR x0.1 every 6 of 18 epochs): over 3 steps the logged lr drops x0.1 after each step."""
    cfg = tiny_config("pace", tiny_cache, **{"optim.steps": 3, "optim.lr": 0.5})
    assert (cfg.optim.schedule, cfg.optim.warmup_epochs, cfg.optim.warmup_steps) == ("step", 0.0, None)
    pretrain(cfg, tmp_path / "pace", quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "pace" / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert lrs == pytest.approx([0.5, 0.05, 0.005]), lrs
