"""`vssl eval finetune --loss supcon|kcl|tsc --long-tail IMB` on the tiny cache: the long-tailed
subset by hand, a contrastive finetune that fills the labelled queue, resumes and tests."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from vssl.errors import InputError
from vssl.eval.finetune import FinetuneOptions, long_tail_subset, run_finetune


def _videos(counts):
    return [SimpleNamespace(id=f"c{c}_v{i:02d}", label=c) for c, n in enumerate(counts) for i in range(n)]


def test_long_tail_subset_by_hand():
    vids = _videos([10, 10, 10])
    kept = long_tail_subset(vids, 10, seed=0)
    per = [sum(v.label == c for v in kept) for c in range(3)]
    assert per == [10, 3, 1]  # 10 * 10^0, int(10 * 10^-0.5) = 3, 10 * 10^-1 = 1
    assert kept == [v for v in vids if v in kept]  # input order kept
    assert long_tail_subset(vids, 10, seed=0) == kept  # deterministic
    assert long_tail_subset(vids, 10, seed=1) != kept  # the seed picks which videos
    assert long_tail_subset(vids, 1, seed=0) == vids  # ratio 1: everything
    short = long_tail_subset(_videos([4, 2, 8]), 2, seed=0)  # n_max = 8: 8, int(8 / sqrt 2) = 5 -> 2 (all it has), 4
    assert [sum(v.label == c for v in short) for c in range(3)] == [4, 2, 4]


def _session(cache, out, **kw):
    from vssl.eval.features import FeatureOptions, Runtime
    from vssl.eval.session import EvalConfig, EvalSession

    cfg = EvalConfig(cache=cache, out=out, backbone="tiny", random_init=True,
                     features=FeatureOptions(clips=1, clip_len=4, resize=32, crop=24),
                     runtime=Runtime(batch_size=4, workers=0, progress=False), **kw)
    return EvalSession(cfg)


def test_tsc_finetune_on_a_long_tailed_split(tiny_cache, tmp_path):
    import torch

    opts = FinetuneOptions(epochs=2, batch_size=3, lr=0.05, test_clips=1, test_crops=1, loss="tsc", long_tail=3.0,
                           queue_size=8, tsc_target_steps=20)
    r = run_finetune(_session(tiny_cache, tmp_path / "e"), opts)
    assert r["train_videos"]["split"] == 9 and r["train_videos"]["per_class"] == [3, 1, 1]  # int(3 / sqrt 3) = 1
    assert r["complete"] and r["steps"] == 2 and 0 <= r["metrics"]["top1"] <= 1
    rows = [json.loads(x) for x in (tmp_path / "e" / "finetune" / "metrics.jsonl").read_text().splitlines()]
    assert all({"contrastive", "class", "target", "head_ce"} <= set(row) and row["target"] > 0 for row in rows)
    state = torch.load(tmp_path / "e" / "finetune" / "checkpoint.pt", weights_only=True)["model"]
    assert {"queue", "queue_labels", "targets", "centroids", "key_backbone.net.0.weight"} <= set(state) or \
        {"queue", "queue_labels", "targets", "centroids"} <= set(state)
    assert int((state["queue_labels"] >= 0).sum()) == 3 * 2  # both steps' keys entered the queue, with their labels
    assert set(state["queue_labels"].tolist()) - {-1} <= {0, 1, 2}


def test_bad_finetune_loss_options_are_one_line():
    for kw, msg in (({"loss": "focal"}, "--loss must be one of ce, supcon, kcl, tsc"),
                    ({"long_tail": 0.5}, "--long-tail must be an imbalance ratio >= 1"),
                    ({"kcl_k": 0}, "--kcl-k >= 1")):
        with pytest.raises(InputError, match=msg):
            FinetuneOptions(**kw).validate()
