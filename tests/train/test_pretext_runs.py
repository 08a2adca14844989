"""The pretext tasks through the training loop on the tiny cache: the data layer gives what their
``requires`` asks (tuples, sample rates), a few steps run, and ``vssl eval`` feeds the same input scaling."""

from __future__ import annotations

import json
import math

import pytest
from train_helpers import tiny_config

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


@pytest.mark.parametrize("method", PRETEXT)
def test_eval_reads_the_input_scaling(method):
    from vssl.eval.features import normalization_of_config
    from vssl.train.config import resolve_config, to_dict

    for how in ("none", "kinetics"):
        cfg = resolve_config(method, overrides={f"{method}.normalize": how})
        assert normalization_of_config(to_dict(cfg)) == how
