"""ViT encoders through `vssl eval`: a random vit_tiny, and a videomae run's checkpoint (retrieval, tiny, CPU)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

CLIP = ["--clips", "2", "--clip-len", "8", "--resize", "40", "--size", "32", "-j", "0", "-q"]


def run_cli(*args):
    from vssl.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("viteval")
    make_synth(root / "data", classes=3, videos_per_class=4, size=(64, 48), frames=24, progress=False)
    extract(root / "data", root / "cache", ExtractOptions(workers=1, min_frames=8, size=40), quiet=True)
    return root / "cache"


def test_random_vit_retrieval(cache, tmp_path):
    r = run_cli("eval", "retrieval", "--cache", cache, "--out", tmp_path / "ev", "--backbone", "vit_tiny",
                "--random-init", *CLIP)
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    res = doc["results"]["retrieval"]
    assert 0.0 <= res["metrics"]["video/R@1"] <= 1.0 and res["sizes"]["feat_dim"] == 64


@pytest.mark.parametrize("method", ["videomae", "mgm"])
def test_masked_run_checkpoint_evaluates(cache, tmp_path, method):
    from vssl.train.config import resolve_config
    from vssl.train.loop import pretrain

    over = {"cache": str(cache), "backbone": "vit_tiny", "data.clip_len": 8, "data.stride": 1,
            "data.load_size": [40, 53], "data.workers": 0, "optim.batch_size": 4, "optim.steps": 2,
            "run.device": "cpu", "run.tensorboard": False, f"{method}.crop": 32}
    run = tmp_path / "run"
    pretrain(resolve_config(method, overrides=over), run, quiet=True)
    r = run_cli("eval", "retrieval", "--cache", cache, "--out", tmp_path / "ev", "--checkpoint", run,
                "--clips", "2", "-j", "0", "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    res = doc["results"]["retrieval"]
    assert 0.0 <= res["metrics"]["video/R@1"] <= 1.0 and res["sizes"]["feat_dim"] == 64
    assert (res["options"]["clip_len"], res["options"]["crop"]) == (8, 32)  # the run's clip


def test_vit_clip_that_does_not_fit_the_tubelet_is_one_line(cache, tmp_path):
    r = run_cli("eval", "retrieval", "--cache", cache, "--out", tmp_path / "ev", "--backbone", "vit_tiny",
                "--random-init", "--clips", "2", "--clip-len", "8", "--resize", "40", "--size", "30", "-j", "0", "-q")
    assert r.exit_code != 0
    assert "multiple of the ViT tubelet" in " ".join(r.output.split()) and "Traceback" not in r.output


def test_finetune_a_vit_with_layer_decay(cache, tmp_path):
    r = run_cli("eval", "finetune", "--cache", cache, "--out", tmp_path / "ev", "--backbone", "vit_tiny",
                "--random-init", "--layer-decay", "0.75", "--drop-path", "0.1", "--epochs", "1", "--batch-size", "4", "--max-steps", "2",
                "--test-crops", "1", *CLIP)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "ev" / "finetune" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "step" in row][:2] in ([0, 1], [1, 2])
    bad = run_cli("eval", "finetune", "--cache", cache, "--out", tmp_path / "ev2", "--backbone", "vit_tiny",
                  "--random-init", "--layer-decay", "0", *CLIP)
    assert bad.exit_code != 0 and "--layer-decay must be in (0, 1]" in " ".join(bad.output.split())
    conv = run_cli("eval", "finetune", "--cache", cache, "--out", tmp_path / "ev3", "--backbone", "tiny",
                   "--random-init", "--drop-path", "0.1", *CLIP)
    assert conv.exit_code != 0 and "--drop-path is for ViT backbones" in " ".join(conv.output.split())
