"""`vssl eval retrieval|linear|knn|finetune|scene-bias` and `vssl report` end to end (CliRunner, CPU, tiny).

One synth cache (3 classes x 5 videos, 96x64, 24 frames: 9 train, 6 test
videos), the ``tiny`` backbone with random weights, 2 clips of 8 frames at
32x32 per video.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

TINY = ["--backbone", "tiny", "--random-init", "--clips", "2", "--clip-len", "8", "--resize", "40", "--size", "32",
        "-j", "0", "-q"]


def run_cli(*args):
    from vssl.cli.main import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    r.text = " ".join(r.output.split())  # rich wraps long lines
    return r


def is_png(p: Path) -> bool:
    return p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """The synth dataset and its cache, plus a cache whose split 1 has no test videos."""
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("clieval")
    make_synth(root / "data", classes=3, videos_per_class=5, size=(96, 64), frames=24, progress=False)
    opts = ExtractOptions(workers=1, min_frames=8, size=64)
    extract(root / "data", root / "cache", opts, quiet=True)
    shutil.copytree(root / "data", root / "data_notest")
    (root / "data_notest" / "testlist01.txt").write_text("")
    extract(root / "data_notest", root / "cache_notest", opts, quiet=True)
    return {"root": root, "cache": root / "cache", "cache_notest": root / "cache_notest"}


def test_eval_commands_end_to_end(data, tmp_path):
    cache, ev = data["cache"], tmp_path / "ev"
    r = run_cli("eval", "retrieval", "--cache", cache, "--out", ev, *TINY)
    assert r.exit_code == 0, r.output
    assert "R@1" in r.text and "R@50" in r.text and "6 queries, 9 gallery videos" in r.text
    assert "features: 30 clips" in r.text
    for f in ("metrics.json", "metrics.csv", "retrieval_recall.png", "tsne_test.png", "features/train.npz",
              "features/test.npz"):
        assert (ev / f).is_file(), f
    assert is_png(ev / "retrieval_recall.png") and is_png(ev / "tsne_test.png")

    r = run_cli("eval", "linear", "--cache", cache, "--out", ev, *TINY, "--epochs", "5")
    assert r.exit_code == 0, r.output
    assert "features: loaded" in r.text and "top-1" in r.text and is_png(ev / "confusion_linear.png")
    r = run_cli("eval", "linear", "--cache", cache, "--out", ev, *TINY, "--solver", "lbfgs", "--max-iter", "50")
    assert r.exit_code == 2  # no such option: typer's usage error

    r = run_cli("eval", "knn", "--cache", cache, "--out", ev, *TINY, "--k", "3")
    assert r.exit_code == 0, r.output
    assert "features: loaded" in r.text and "3-NN" in r.text

    r = run_cli("eval", "scene-bias", "--cache", cache, "--out", ev, *TINY, "--mode", "both", "-j", "1")
    assert r.exit_code == 0, r.output
    for name in ("scene_bias", "background_R@1", "swap/background_follow"):
        assert name in r.text
    assert "online FAME masks" in r.text and is_png(ev / "tsne_background.png")

    r = run_cli("eval", "finetune", "--cache", cache, "--out", ev, *TINY, "--epochs", "2", "--batch-size", "4",
                "--max-steps", "2", "--clips", "1")
    assert r.exit_code == 0, r.output
    assert "stopped at step 2 of 4" in r.text
    r = run_cli("eval", "finetune", "--cache", cache, "--out", ev, *TINY, "--epochs", "2", "--batch-size", "4",
                "--clips", "1")
    assert r.exit_code == 0, r.output
    assert "resumed from" in r.text and "4 steps, complete" in r.text
    assert is_png(ev / "confusion_finetune.png") and is_png(ev / "finetune_loss.png")

    doc = json.loads((ev / "metrics.json").read_text())
    assert set(doc["results"]) == {"retrieval", "linear", "knn", "scene_bias", "finetune"}
    assert doc["checkpoint"]["backbone"] == "tiny" and doc["cache"]["split"] == "1"
    csv_rows = (ev / "metrics.csv").read_text().splitlines()
    assert csv_rows[0] == "metric,value" and any(r.startswith("retrieval/video/R@1,") for r in csv_rows)

    r = run_cli("report", ev, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "finetune/top1" in md and "scene_bias/scene_bias" in md and "random_init" in md
    assert is_png(tmp_path / "rep" / "recall.png") and is_png(tmp_path / "rep" / "finetune_loss.png")
    assert is_png(ev / "spectrum_train.png") and is_png(tmp_path / "rep" / "spectrum.png")
    assert doc["results"]["retrieval"]["spectrum"]["effective_rank"] >= 1.0


def test_help_explains_commands():
    r = run_cli("eval", "--help")
    assert r.exit_code == 0
    for c in ("retrieval", "linear", "knn", "finetune", "scene-bias"):
        assert c in r.text
    r = run_cli("eval", "scene-bias", "--help")
    assert "background_follow" in r.text and "chance_background" in r.text
    assert run_cli("report", "--help").exit_code == 0


def _one_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert "Traceback" not in r.output
    return lines[0]


@pytest.mark.parametrize(
    "case, code, message",
    [
        ("missing_cache", 3, "cache not found"),
        ("missing_split", 2, "split 3 not in cache"),
        ("empty_query", 2, "no test videos: empty query (test) set"),
        ("other_backbone", 2, "holds a 'tiny' backbone, not 'r3d_10'"),
        ("no_weights", 2, "--random-init"),
        ("crop_too_big", 2, "must not exceed --resize"),
        ("missing_checkpoint", 2, "checkpoint not found"),
        ("bad_input", 2, "input must be one of"),
    ],
)
def test_bad_inputs_one_line_and_exit_code(data, tmp_path, case, code, message):
    cache = data["cache"]
    base = ["eval", "retrieval", "--cache", cache, "--out", tmp_path / "ev"]
    if case == "missing_cache":
        args = ["eval", "retrieval", "--cache", tmp_path / "nope", "--out", tmp_path / "ev", *TINY]
    elif case == "missing_split":
        args = [*base, *TINY, "--split", "3"]
    elif case == "empty_query":
        args = ["eval", "knn", "--cache", data["cache_notest"], "--out", tmp_path / "ev", *TINY]
    elif case == "other_backbone":
        from vssl.models import build_backbone

        torch.save(build_backbone("tiny").state_dict(), tmp_path / "tiny.pt")
        args = [*base, "--checkpoint", tmp_path / "tiny.pt", "--backbone", "r3d_10", "-j", "0"]
    elif case == "no_weights":
        args = [*base, "--backbone", "tiny"]
    elif case == "bad_input":
        args = [*base, *TINY, "--input", "flow"]
    elif case == "crop_too_big":
        args = [*base, *TINY, "--size", "64"]
    else:
        args = [*base, "--checkpoint", tmp_path / "nope.pt"]
    r = run_cli(*args)
    assert r.exit_code == code, r.output
    assert message in _one_line(r)
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_report_rejects_other_directories(tmp_path):
    (tmp_path / "x").mkdir()
    r = run_cli("report", tmp_path / "x", "--out", tmp_path / "rep")
    assert r.exit_code == 2 and "neither an eval directory" in _one_line(r)


def test_random_baseline_on_frame_differences(data, tmp_path):
    """--input diff: the random network of a data.input=diff run sees what that run saw (T - 1 differences)."""
    import numpy as np

    feats = {}
    for inp in ("rgb", "diff"):
        r = run_cli("eval", "knn", "--cache", data["cache"], "--out", tmp_path / inp, *TINY, "--k", "3", "--input", inp)
        assert r.exit_code == 0, r.output
        feats[inp] = np.load(tmp_path / inp / "features" / "test.npz")["clip_feats"]
    assert feats["rgb"].shape == feats["diff"].shape and not np.allclose(feats["rgb"], feats["diff"])
