"""Evaluation runners: weights loading, cached features, protocols, scene bias, finetune resume, report.

Everything runs on CPU on a tiny synth cache (3 classes x 6 videos, 96x64, 24
frames) with the ``tiny`` backbone, 2 clips of 8 frames at 32x32 per video.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vssl.data.clips import EvalClips
from vssl.errors import CacheError, InputError
from vssl.eval.checkpoints import find_checkpoint, load_backbone, match_state, state_fingerprint
from vssl.eval.features import FeatureOptions, Runtime, normalization_of_config, video_mean
from vssl.eval.session import EvalConfig, EvalSession
from vssl.models import build_backbone

TINY = FeatureOptions(clips=2, clip_len=8, resize=40, crop=32)


@pytest.fixture(scope="module")
def synth_cache(tmp_path_factory) -> Path:
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("evalsynth")
    make_synth(root / "data", classes=3, videos_per_class=6, size=(96, 64), frames=24, progress=False)
    extract(root / "data", root / "cache", ExtractOptions(workers=1, min_frames=8, size=64), quiet=True)
    return root / "cache"


def session(cache: Path, out: Path, **kw) -> EvalSession:
    cfg = EvalConfig(cache=cache, out=out, backbone=kw.pop("backbone", "tiny"),
                     random_init=kw.pop("random_init", True), features=kw.pop("features", TINY),
                     runtime=Runtime(batch_size=8, workers=0, progress=False), **kw)
    return EvalSession(cfg)


# --------------------------------------------------------------------------- clips


def test_eval_clips_shapes_and_rgb(synth_cache):
    from vssl.io.cache import Cache

    c = Cache(synth_cache)
    ids = [v.id for v in c.videos[:2]]
    ds = EvalClips(synth_cache, ids, replace(TINY, crops=3))
    item = ds[3]  # video 1, clip 1
    assert item["video"] == 1 and item["clip_index"] == 1
    assert item["clip"].shape == (3, 8, 32, 32, 3) and item["clip"].dtype == np.uint8
    # Same pixels as the cache's own RGB reader, resized and centre-cropped.
    t0 = int(ds.starts[1][1])
    ref = c.read_frames(ids[1], t0, t0 + 8)  # 64 x 96 stored; resize 40 -> 40 x 60
    import cv2

    ref = np.stack([cv2.resize(np.ascontiguousarray(f), (60, 40), interpolation=cv2.INTER_AREA) for f in ref])
    assert np.abs(item["clip"][1].astype(int) - ref[:, 4:36, 14:46]).max() <= 1


def test_train_clips_draw_a_start_per_epoch_and_cover_the_load_size(synth_cache):
    from vssl.data.clips import TrainClips
    from vssl.data.frames import cover_crop
    from vssl.io.cache import Cache

    c = Cache(synth_cache)
    ids = [v.id for v in c.videos[:3]]
    ds = TrainClips(synth_cache, ids, 8, 2, (40, 53), seed=4)
    a, b = ds[(1, 0)], ds[(1, 0)]
    assert a["clip"].shape == (8, 40, 53, 3) and a["label"] == c.video(ids[1]).label
    np.testing.assert_array_equal(a["clip"], b["clip"])  # the key fixes the clip
    starts = set()
    for epoch in range(6):
        clip = ds[(1, epoch)]["clip"]
        v = c.video(ids[1])
        for t0 in range(v.n_frames - 14):  # which start was drawn (0..n_frames - span): the frames of one
            ref = np.stack([cover_crop(np.ascontiguousarray(f), 40, 53) for f in c.read_frames(ids[1], t0, t0 + 15)[::2]])
            if np.abs(clip.astype(int) - ref).max() <= 1:
                starts.add(t0)
                break
        else:
            raise AssertionError(f"epoch {epoch}: no start of the video gives these frames")
    assert len(starts) > 1  # epochs draw other starts


def test_video_mean():
    x = np.array([[1, 0], [3, 0], [0, 2]], np.float32)
    np.testing.assert_allclose(video_mean(x, np.array([0, 0, 1]), 2), [[2, 0], [0, 2]])


def test_normalization_of_config():
    assert normalization_of_config({}) == "kinetics"
    assert normalization_of_config({"data": {"normalize": False}}) == "none"
    assert normalization_of_config({"augment": {"mean": [0.485, 0.456, 0.406]}}) == "imagenet"


# --------------------------------------------------------------------------- weights


def test_random_init_is_seeded():
    a, ma = load_backbone(None, "tiny", random_init=True, seed=1)
    b, mb = load_backbone(None, "tiny", random_init=True, seed=1)
    c, mc = load_backbone(None, "tiny", random_init=True, seed=2)
    assert ma["fingerprint"] == mb["fingerprint"] != mc["fingerprint"]
    assert ma["source"] == "random_init" and ma["backbone"] == "tiny"


def test_exported_state_dict(tmp_path):
    ref = build_backbone("tiny")
    torch.save(ref.state_dict(), tmp_path / "bb.pt")
    model, meta = load_backbone(tmp_path / "bb.pt", "tiny")
    assert meta["source"] == "exported" and meta["prefix"] == ""
    assert meta["fingerprint"] == state_fingerprint(ref.state_dict())


def test_run_dir_picks_newest_checkpoint_and_query_encoder(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"method": {"name": "moco"}, "backbone": "tiny",
                                                     "optim": {"epochs": 7}}))
    q, k = build_backbone("tiny"), build_backbone("tiny")
    model = {**{f"module.encoder_k.{n}": t for n, t in k.state_dict().items()},
             **{f"module.encoder_q.{n}": t for n, t in q.state_dict().items()},
             "module.head.weight": torch.zeros(3, 64), "queue": torch.zeros(64, 16)}
    torch.save({"model": build_backbone("tiny").state_dict(), "step": 1}, run / "checkpoints" / "old.pt")
    past = time.time() - 100
    os.utime(run / "checkpoints" / "old.pt", (past, past))
    torch.save({"state_dict": model, "step": 50, "epoch": 3, "optimizer": {"lr": 0.1}}, run / "checkpoints" / "last.pt")
    assert find_checkpoint(run).name == "last.pt"
    m, meta = load_backbone(run, None)
    assert meta["backbone"] == "tiny" and meta["method"] == "moco" and meta["step"] == 50 and meta["epoch"] == 3
    assert meta["prefix"].endswith("encoder_q.")
    assert meta["fingerprint"] == state_fingerprint(q.state_dict())


def test_match_state_prefers_online_over_momentum():
    sd = build_backbone("tiny").state_dict()
    ckpt = {**{f"key_backbone.{n}": t for n, t in sd.items()}, **{f"backbone.{n}": t for n, t in sd.items()}}
    assert match_state(ckpt, sd).prefix == "backbone."


def test_other_backbone_is_named(tmp_path):
    torch.save(build_backbone("tiny").state_dict(), tmp_path / "tiny.pt")
    with pytest.raises(InputError, match="holds a 'tiny' backbone, not 'r3d_10'") as e:
        load_backbone(tmp_path / "tiny.pt", "r3d_10")
    assert "\n" not in str(e.value)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("backbone: tiny\n")
    torch.save({"model": {"backbone." + k: v for k, v in build_backbone("tiny").state_dict().items()}}, run / "a.pt")
    with pytest.raises(InputError, match="trained with backbone 'tiny', not 'c3d'"):
        load_backbone(run, "c3d")


def test_bad_weight_sources(tmp_path):
    with pytest.raises(InputError, match="--random-init"):
        load_backbone(None, "tiny")
    with pytest.raises(InputError, match="not found"):
        load_backbone(tmp_path / "nope.pt", "tiny")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no checkpoint"):
        load_backbone(tmp_path / "empty", "tiny")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot load"):
        load_backbone(tmp_path / "junk.pt", "tiny")


# --------------------------------------------------------------------------- features and protocols


def test_features_cached_once_and_shared(synth_cache, tmp_path):
    from vssl.eval.protocols import LinearOptions, run_knn, run_linear, run_retrieval

    s = session(synth_cache, tmp_path / "ev")
    r = run_retrieval(s)
    assert not r["features_cached"]
    assert r["sizes"] == {"train_videos": 12, "test_videos": 6, "train_clips": 24, "test_clips": 12, "feat_dim": 64}
    mtime = (tmp_path / "ev" / "features" / "train.npz").stat().st_mtime_ns
    s2 = session(synth_cache, tmp_path / "ev")  # a new process would see the same
    r_lin = run_linear(s2, LinearOptions(epochs=10))
    r_knn = run_knn(s2)
    assert r_lin["features_cached"] and r_knn["features_cached"]
    assert (tmp_path / "ev" / "features" / "train.npz").stat().st_mtime_ns == mtime
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(doc["results"]) == {"retrieval", "linear", "knn"}
    assert 0 <= doc["results"]["retrieval"]["metrics"]["video/R@1"] <= 1
    assert doc["results"]["retrieval"]["metrics"]["video/R@50"] == 1.0  # 12 gallery videos: every class in reach
    # Other clip options: computed again, the old file replaced.
    s3 = session(synth_cache, tmp_path / "ev", features=replace(TINY, clips=1))
    assert not s3.features("train").cached and len(s3.features("train").clip_feats) == 12


def test_features_match_direct_inference(synth_cache, tmp_path):
    s = session(synth_cache, tmp_path / "ev")
    fs = s.features("test")
    ds = EvalClips(synth_cache, fs.video_ids, TINY)
    item = ds[5]
    x = torch.from_numpy(item["clip"][0]).permute(3, 0, 1, 2).float()[None] / 255
    m, sd = torch.tensor(TINY.mean_std[0]).view(1, 3, 1, 1, 1), torch.tensor(TINY.mean_std[1]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        f = s.model.eval()((x - m) / sd)[0].numpy()
    np.testing.assert_allclose(fs.clip_feats[5], f, rtol=1e-4, atol=1e-5)
    assert fs.video_index[5] == 2 and fs.clip_index[5] == 1


def test_other_weights_in_same_eval_dir_refused(synth_cache, tmp_path):
    from vssl.eval.protocols import run_knn

    run_knn(session(synth_cache, tmp_path / "ev"))
    with pytest.raises(InputError, match="other weights"):
        session(synth_cache, tmp_path / "ev", seed=5)
    s = session(synth_cache, tmp_path / "ev", seed=5, force=True)
    assert not (tmp_path / "ev" / "metrics.json").exists()
    run_knn(s)


def test_missing_split_empty_query_missing_cache(synth_cache, tmp_path):
    with pytest.raises(InputError, match="split 2 not in cache"):
        session(synth_cache, tmp_path / "ev", split="2")
    with pytest.raises(CacheError, match="cache not found"):
        session(tmp_path / "nope", tmp_path / "ev")


# --------------------------------------------------------------------------- scene bias


def test_scene_metrics_by_hand():
    from vssl.eval.scene_bias import chance_same, loo_scene_metrics, swap_metrics, swap_partners

    labels = np.array([0, 0, 1, 1])
    bgs = np.array([0, 1, 0, 1])
    assert chance_same(labels) == pytest.approx(1 / 3)
    # Features that only see the background: every neighbour shares it, never the action.
    m = loo_scene_metrics(np.eye(2)[bgs] + 0.01 * np.eye(4)[:, :2], labels, bgs)
    assert m["background_R@1"] == 1 and m["action_R@1"] == 0 and m["bg_not_action"] == 1
    assert m["scene_bias"] == pytest.approx(1 - 1 / 3)
    m = loo_scene_metrics(np.eye(2)[labels] + 0.01 * np.eye(4)[:, :2], labels, bgs)
    assert m["action_R@1"] == 1 and m["scene_bias"] == pytest.approx(-1 / 3)
    p = swap_partners(labels, seed=0)
    assert np.all(labels[p] != labels)
    vf = np.eye(4)
    sm = swap_metrics(vf[p] + 0.1 * vf, np.arange(4), p, vf, labels)  # swapped clips look like the background video
    assert sm["swap/background_follow"] == 1 and sm["swap/nn_background"] == 1 and sm["swap/nn_action"] == 0


def test_scene_bias_synth_and_swap(synth_cache, tmp_path):
    from vssl.eval.scene_bias import SceneBiasOptions, run_scene_bias

    s = session(synth_cache, tmp_path / "ev")
    r = run_scene_bias(s, SceneBiasOptions(mode="both"))
    m = r["metrics"]
    assert r["mode"] == "both" and r["swap"]["masks"] == "online"
    assert m["chance_action"] == pytest.approx(1 / 5)  # 2 test videos per class, 6 in all
    for k in ("action_R@1", "background_R@1", "scene_bias", "train/background_R@1", "swap/background_follow"):
        assert np.isfinite(m[k])
    assert (tmp_path / "ev" / "tsne_background.png").read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- finetune


def test_finetune_resume_equals_uninterrupted(synth_cache, tmp_path):
    from vssl.eval.finetune import FinetuneOptions, run_finetune

    opts = FinetuneOptions(epochs=2, batch_size=4, lr=0.05, test_clips=1, test_crops=3)
    straight = run_finetune(session(synth_cache, tmp_path / "a"), opts)
    assert straight["complete"] and straight["steps"] == 6 and not straight["resumed"]
    first = run_finetune(session(synth_cache, tmp_path / "b"), replace(opts, max_steps=2))
    assert not first["complete"] and first["steps"] == 2
    second = run_finetune(session(synth_cache, tmp_path / "b"), opts)
    assert second["resumed"] and second["steps_this_run"] == 4 and second["complete"]
    la = [json.loads(x)["loss"] for x in (tmp_path / "a" / "finetune" / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["loss"] for x in (tmp_path / "b" / "finetune" / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(lb, la, rtol=1e-5)
    assert second["metrics"] == pytest.approx(straight["metrics"])
    # Other options: refused, then restarted with force.
    with pytest.raises(InputError, match="other options"):
        run_finetune(session(synth_cache, tmp_path / "b"), replace(opts, lr=0.1))
    again = run_finetune(session(synth_cache, tmp_path / "b", force=True), replace(opts, lr=0.1, max_steps=1))
    assert not again["resumed"] and again["steps"] == 1


# --------------------------------------------------------------------------- report


def test_report_of_eval_and_pretrain_dirs(synth_cache, tmp_path):
    from vssl.eval.protocols import RetrievalOptions, run_retrieval
    from vssl.eval.report import build_report

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("method: moco\nbackbone: tiny\ncache: /data/ucf_cache\noptim: {epochs: 3}\n")
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": i, "loss": 5 - i / 10}) + "\n" for i in range(1, 30))
                                       + '{"step": 30, "lo')  # a line cut by a crash
    torch.save({"model": {"backbone." + k: v for k, v in build_backbone("tiny").state_dict().items()}},
               run / "last.pt")
    no_tsne = RetrievalOptions(tsne=False)
    run_retrieval(session(synth_cache, tmp_path / "ev_run", checkpoint=run, random_init=False, backbone=None), no_tsne)
    run_retrieval(session(synth_cache, tmp_path / "ev_rand"), no_tsne)
    r = build_report([tmp_path / "ev_run", tmp_path / "ev_rand", run], tmp_path / "rep")
    runs = {x.name: x for x in r["runs"]}
    # one row per pretraining run: the eval of its checkpoint joins the run directory's row
    assert set(runs) == {"run", "ev_rand"}
    assert runs["run"].method == "moco" and runs["run"].epochs == 3 and runs["run"].data == "ucf_cache"
    assert len(runs["run"].loss) == 29 and runs["run"].kind == "pretrain+eval"
    assert "retrieval/video/R@1" in runs["run"].metrics
    assert runs["ev_rand"].method == "random_init"
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "retrieval/video/R@1" in md and "![" in md
    for f in ("recall.png", "loss.png"):
        assert (tmp_path / "rep" / f).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="neither"):
        build_report([tmp_path / "rep"], tmp_path / "rep2")


def test_swap_with_precomputed_fame_scores(synth_cache, tmp_path):
    import shutil

    from vssl.eval.scene_bias import SceneBiasOptions, run_scene_bias
    from vssl.preprocess.fame import FameOptions
    from vssl.preprocess.precompute import RunOptions, precompute

    with pytest.raises(InputError, match="no precomputed FAME"):
        run_scene_bias(session(synth_cache, tmp_path / "ev0"), SceneBiasOptions(mode="swap", masks="precomputed"))
    cache = shutil.copytree(synth_cache, tmp_path / "cache")
    precompute(cache, FameOptions(window=8, stride=4), RunOptions(workers=1), quiet=True)
    r = run_scene_bias(session(cache, tmp_path / "ev"), SceneBiasOptions(mode="swap"))
    assert r["mode"] == "swap" and r["swap"]["masks"] == "precomputed"
    assert 0 <= r["metrics"]["swap/background_follow"] <= 1
    assert "scene_bias" not in r["metrics"]  # the synth metrics only in synth / both mode


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_features_and_finetune(synth_cache, tmp_path):
    from vssl.eval.finetune import FinetuneOptions, run_finetune

    cpu = session(synth_cache, tmp_path / "cpu").features("test")
    cfg = EvalConfig(cache=synth_cache, out=tmp_path / "gpu", backbone="tiny", random_init=True, features=TINY,
                     runtime=Runtime(batch_size=8, workers=2, device="cuda", progress=False))
    gpu = EvalSession(cfg).features("test")
    a, b = torch.as_tensor(cpu.clip_feats), torch.as_tensor(gpu.clip_feats)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.98  # bf16 autocast
    r = run_finetune(EvalSession(cfg), FinetuneOptions(epochs=1, batch_size=4, max_steps=2, test_clips=1))
    assert r["steps"] == 2 and np.isfinite(r["final_loss"])
