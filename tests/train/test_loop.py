from __future__ import annotations

import json
import math
import os

import pytest
import torch
from helpers.training import tiny_config

from vssl.errors import InputError, TrainingError
from vssl.methods import METHODS
from vssl.train.checkpoint import checkpoint_path, load_checkpoint
from vssl.train.logging import read_metrics
from vssl.train.loop import export_backbone, pretrain
from vssl.train.optim import lr_factor

# One method per distinct data-layer request (``requires``) and per training hook the loop serves
# (labels, after_step EMA updates, fixed-lr groups, LARS, AdamW): the loop and data layer see every
# code path; each method's own step is in tests/methods/test_contract.py. VSSL_TEST_ALL_METHODS=1
# runs all of them (about 4 s each on 2 cores; the suite's 10-minute budget does not hold 23).
LOOP_METHODS = ("moco", "dsm", "be", "fame", "cmd", "supervised", "videomae", "mgm", "vcop", "pace",
                "cubic_puzzle", "ascnet", "byol", "simsiam", "barlow")
_ALL = os.environ.get("VSSL_TEST_ALL_METHODS") == "1"


def _requires_key(name: str) -> str:
    from helpers.methods import build

    return repr(sorted((k, repr(v)) for k, v in build(name).requires.as_dict().items()))


def test_loop_methods_cover_every_data_request():
    keys = {n: _requires_key(n) for n in METHODS}  # each method built once
    covered = {keys[n] for n in LOOP_METHODS}
    missing = [n for n in METHODS if keys[n] not in covered]
    assert not missing, f"add one of {missing} to LOOP_METHODS: their data requests are not run through the loop"


@pytest.mark.parametrize("name", list(METHODS) if _ALL else list(LOOP_METHODS))
def test_every_method_pretrains_from_the_cache(tiny_cache, tmp_path, name):
    cfg = tiny_config(name, tiny_cache, **{"optim.steps": 2, "run.save_every": 1})
    s = pretrain(cfg, tmp_path / "run", quiet=True)
    assert s["steps"] == 2 and math.isfinite(s["loss"])
    m = read_metrics(tmp_path / "run")
    assert [r["step"] for r in m] == [1, 2]
    assert {"loss", "lr", "clips_per_s", "data_wait", "epoch"} <= set(m[0])
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["cache_checksum"] and meta["seed"] == 0 and meta["vssl_version"]
    ck = load_checkpoint(checkpoint_path(tmp_path / "run"))
    assert ck["step"] == 2 and any(k.startswith("backbone.") for k in ck["model"])
    assert (tmp_path / "run" / "config.yaml").read_text().count(f"{name}:") == 1


def test_run_dir_contents_and_export(tiny_cache, tmp_path):
    cfg = tiny_config("moco", tiny_cache, **{"run.tensorboard": True, "run.channels_last": True})
    run = tmp_path / "run"
    pretrain(cfg, run, quiet=True)
    assert list((run / "tb").iterdir())
    ck = load_checkpoint(checkpoint_path(run))
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "step", "epoch", "pos", "config"} <= set(ck)
    assert any(k.startswith("enc.key_backbone.") for k in ck["model"]) and "enc.queue.queue" in ck["model"]
    r = export_backbone(run, tmp_path / "bb.pt")
    sd = torch.load(tmp_path / "bb.pt", weights_only=True)
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    bb.load_state_dict(sd, strict=True)
    assert r["tensors"] == len(sd)
    torch.testing.assert_close(sd["features.0.weight"], ck["model"]["backbone.features.0.weight"].contiguous())


def test_resume_after_a_stop_gives_the_same_steps(tiny_cache, tmp_path):
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": 6, "run.save_every": 3})
    pretrain(cfg, tmp_path / "a", quiet=True)
    pretrain(cfg, tmp_path / "b", quiet=True, stop_after=4)  # "killed" after step 4; checkpoint at 3
    assert load_checkpoint(checkpoint_path(tmp_path / "b"))["step"] == 3
    s = pretrain(cfg, tmp_path / "b", quiet=True)
    assert s["resumed_from"] == 3 and s["steps"] == 6
    a = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "a")}
    rb = read_metrics(tmp_path / "b")
    assert [r["step"] for r in rb] == [1, 2, 3, 4, 5, 6]  # step 4 of the stopped run was dropped
    b = {r["step"]: r["loss"] for r in rb}
    assert a == pytest.approx(b, abs=1e-6)
    wa = load_checkpoint(checkpoint_path(tmp_path / "a"))["model"]
    wb = load_checkpoint(checkpoint_path(tmp_path / "b"))["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5)


def test_rerun_with_other_settings_is_refused(tiny_cache, tmp_path):
    run = tmp_path / "run"
    pretrain(tiny_config("moco", tiny_cache, **{"optim.steps": 1}), run, quiet=True)
    with pytest.raises(InputError, match=r"other settings \(optim.lr: 0.003 -> 0.1"):
        pretrain(tiny_config("moco", tiny_cache, **{"optim.steps": 1, "optim.lr": 0.1}), run, quiet=True)
    # run-time settings may change: this resumes (and has nothing left to do)
    s = pretrain(tiny_config("moco", tiny_cache, **{"optim.steps": 1, "run.log_every": 5}), run, quiet=True)
    assert s["resumed_from"] == 1
    with pytest.raises(InputError, match="nothing to resume"):
        pretrain(tiny_config("moco", tiny_cache), tmp_path / "empty", resume=True, quiet=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_cache, tmp_path, monkeypatch):
    from vssl.methods.moco import MoCo

    calls = {"n": 0}
    orig = MoCo.training_step

    def poisoned(self, batch):
        out = orig(self, batch)
        calls["n"] += 1
        return out._replace(loss=out.loss * float("nan")) if calls["n"] >= 3 else out

    monkeypatch.setattr(MoCo, "forward", poisoned)
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": 6, "run.save_every": 2, "run.log_every": 2})
    with pytest.raises(TrainingError, match="loss is nan at step 3.*last good checkpoint \\(step 2\\)"):
        pretrain(cfg, tmp_path / "run", quiet=True)
    ck = load_checkpoint(checkpoint_path(tmp_path / "run"))
    assert ck["step"] == 2
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_batch_larger_than_dataset_is_capped_with_one_warning(tiny_cache, tmp_path, capfd):
    """A paper recipe's batch on a small cache: the largest batch that fits, one line, recorded; the
    learning rate follows it (linear scaling) and rerunning the same command resumes."""
    cfg = tiny_config("dsm", tiny_cache, **{"optim.batch_size": 16, "optim.steps": 2, "run.save_every": 1})
    pretrain(cfg, tmp_path / "r", quiet=True, stop_after=1)
    err = capfd.readouterr().err
    assert err.count("warning:") == 1
    assert "warning: batch size 16 is larger than the dataset (9 videos): training with batch 9" in err
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert (meta["batch_size"], meta["batch_size_requested"], meta["steps_per_epoch"]) == (9, 16, 1)
    o = cfg.optim
    want_lr = o.lr * 9 / o.base_batch if o.lr_scaling == "linear" else o.lr
    assert meta["effective_lr"] == pytest.approx(want_lr)
    assert "batch_size: 9" in (tmp_path / "r" / "config.yaml").read_text()
    s = pretrain(cfg, tmp_path / "r", quiet=True)  # the same config again: resumes, not "other settings"
    assert (s["resumed_from"], s["steps"]) == (1, 2)
    with pytest.raises(InputError, match="batch size 8 is not divisible"):  # an explicit odd choice stays an error
        pretrain(tiny_config("dsm", tiny_cache, **{"optim.batch_size": 8, "optim.accum": 3}), tmp_path / "o",
                 quiet=True)


def test_batch_that_cannot_fit_is_one_line(tiny_cache, tmp_path):
    cfg = tiny_config("simclr", tiny_cache, **{"optim.batch_size": 32, "optim.accum": 16})
    with pytest.raises(InputError, match="batch size 32 is larger than the dataset \\(9 videos\\) and no smaller "
                                         "batch fits 1 process\\(es\\) x 16 accumulation step\\(s\\)"):
        pretrain(cfg, tmp_path / "r", quiet=True)


def test_lr_schedule():
    assert lr_factor(0, 100, 10, 0.0) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 0.0) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, 0.0) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, 0.0) == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, 0.1) == pytest.approx(0.1)


@pytest.mark.slow
def test_loss_falls_on_synth(tiny_cache, tmp_path, monkeypatch):
    """SimCLR on the tiny synth cache, milder augmentation (crop scale (0.4, 1), no grey or
    blur): the contrastive loss drops within 40 steps (about 2.3 -> 1.4 here)."""
    import vssl.methods.simclr as simclr
    from vssl.data.transforms import ClipAugment

    monkeypatch.setattr(simclr, "make_augment", lambda crop, min_scale, **kw: ClipAugment(
        crop, scale=(0.4, 1.0), gray_p=0.0, blur_p=0.0, **kw))
    cfg = tiny_config("simclr", tiny_cache, **{"optim.steps": 40, "optim.lr": 0.1, "optim.batch_size": 8})
    pretrain(cfg, tmp_path / "run", quiet=True)
    losses = [r["loss"] for r in read_metrics(tmp_path / "run")]
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < first - 0.25, losses


@pytest.mark.slow
def test_export_r3d_18_loads_into_torchvision(tiny_cache, tmp_path):
    from torchvision.models.video import r3d_18

    cfg = tiny_config("moco", tiny_cache, **{"backbone": "r3d_18", "optim.steps": 1})
    pretrain(cfg, tmp_path / "run", quiet=True)
    export_backbone(tmp_path / "run", tmp_path / "r3d.pt")
    res = r3d_18(weights=None).load_state_dict(torch.load(tmp_path / "r3d.pt", weights_only=True), strict=False)
    assert sorted(res.missing_keys) == ["fc.bias", "fc.weight"] and not res.unexpected_keys


@pytest.mark.slow
@pytest.mark.parametrize("name, option", [("fame", "data.fame_masks"), ("be", "data.static_frames")])
def test_precomputed_masks_and_static_frames(tiny_cache_precomputed, tmp_path, name, option):
    cfg = tiny_config(name, tiny_cache_precomputed, **{option: "cache"})
    s = pretrain(cfg, tmp_path / "run", quiet=True)
    assert s["steps"] == 2 and math.isfinite(s["loss"])


def test_rho_clips_and_collapse_monitor_in_the_metrics(tiny_cache, tmp_path):
    """BYOL with rho = 3 clips per video from the cache, LARS from its recipe, the cosine EMA
    over the run's steps; the collapse monitor is logged in metrics.jsonl."""
    cfg = tiny_config("byol", tiny_cache, **{"byol.clips": 3, "optim.steps": 3})
    s = pretrain(cfg, tmp_path / "run", quiet=True)
    assert s["steps"] == 3 and math.isfinite(s["loss"])
    m = read_metrics(tmp_path / "run")
    assert {"emb_std", "emb_rank", "rep_std", "rep_rank"} <= set(m[-1])
    assert 1.0 <= m[-1]["emb_rank"] <= cfg.optim.batch_size - 1 + 1e-4
    ck = load_checkpoint(checkpoint_path(tmp_path / "run"))
    assert any(k.startswith("target_backbone.") for k in ck["model"])
