"""`vssl pretrain` / `vssl export` through the CLI: one-line errors with the documented exit codes."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.methods import METHODS

runner = CliRunner()
TINY_FLAGS = ["--backbone", "tiny", "--steps", "2", "--batch-size", "4", "--workers", "0", "--device", "cpu",
              "--clip-len", "4", "--stride", "2", "--log-every", "1", "--quiet",
              "--set", "data.load_size=[32, 40]", "--set", "run.tensorboard=false"]


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output
    return r


def test_help_lists_every_method_and_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from vssl.cli.main import app; "
            "r = CliRunner().invoke(app, ['pretrain', '--help'], env={'COLUMNS': '2000'}); "
            "print(r.exit_code, 'torch' in sys.modules); print(r.output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    status, _, text = out.partition("\n")
    assert status == "0 False", out[-2000:]  # --help exits 0 without importing torch
    assert ", ".join(METHODS) in " ".join(text.split())
    assert METHODS["moco"].__name__ == "MoCo" and "moco" in METHODS and "swav" not in METHODS


def test_unknown_method_lists_valid_ones(tiny_cache, tmp_path):
    r = run("pretrain", "--method", "nosuchmethod", "--cache", tiny_cache, "--out", tmp_path / "r")
    assert r.exit_code == 2
    assert "unknown method 'nosuchmethod'; choose one of: moco, simclr, dsm, be, fame, cmd" in r.output


def test_missing_cache_exit_3(tmp_path):
    r = run("pretrain", "--method", "moco", "--cache", tmp_path / "nope", "--out", tmp_path / "r", "--backbone", "tiny")
    assert r.exit_code == 3 and "cache not found" in r.output
    assert not (tmp_path / "r").exists()


def test_fame_cache_masks_without_precompute_hint(tiny_cache, tmp_path):
    r = run("pretrain", "--method", "fame", "--cache", tiny_cache, "--out", tmp_path / "r", "--fame-masks", "cache",
            *TINY_FLAGS, "--set", "fame.crop=24")
    assert r.exit_code == 3
    assert f"run `vssl precompute fame {tiny_cache}` first" in " ".join(r.output.split())


def test_unknown_yaml_key(tiny_cache, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("method: moco\noptim:\n  warmup: 3\n")
    r = run("pretrain", "--config", f, "--cache", tiny_cache, "--out", tmp_path / "r")
    assert r.exit_code == 2 and "unknown key 'optim.warmup'" in r.output


@pytest.mark.parametrize("method", ["moco"])
def test_pretrain_then_export(tiny_cache, tmp_path, method):
    out = tmp_path / "run"
    r = run("pretrain", "--method", method, "--cache", tiny_cache, "--out", out, *TINY_FLAGS, "--set", f"{method}.crop=24",
            "--set", f"{method}.queue_size=16")
    assert r.exit_code == 0, r.output
    assert (out / "checkpoints" / "last.pt").exists() and (out / "config.yaml").exists()
    r = run("export", out, "--out", tmp_path / "bb.pt")
    assert r.exit_code == 0, r.output
    from vssl.models import build_backbone

    build_backbone("tiny").load_state_dict(torch.load(tmp_path / "bb.pt", weights_only=True), strict=True)
    r = run("export", tmp_path / "nothing", "--out", tmp_path / "x.pt")
    assert r.exit_code == 2 and "run directory not found" in r.output


def test_default_batch_on_a_small_cache_runs_with_one_warning(tiny_cache, tmp_path):
    """The newcomer's first command: the recipe's batch (64 for DSM) on a cache of 9 videos."""
    import json

    flags = list(TINY_FLAGS)
    i = flags.index("--batch-size")
    del flags[i:i + 2]
    out = tmp_path / "r"
    r = run("pretrain", "--method", "dsm", "--cache", tiny_cache, "--out", out, *flags, "--steps", "1",
            "--set", "dsm.crop=24", "--set", "dsm.queue_size=16")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert text.count("warning:") == 1
    assert "batch size 64 is larger than the dataset (9 videos): training with batch 9" in text
    assert json.loads((out / "run.json").read_text())["batch_size"] == 9


@pytest.fixture(scope="module")
def unlabelled_cache(tiny_cache, tmp_path_factory):
    """Six of the tiny synth videos in one flat folder (no class folders, no split files), extracted."""
    import shutil

    from vssl.preprocess.extract import ExtractOptions, extract

    base = tmp_path_factory.mktemp("unlabelled")
    (base / "footage").mkdir()
    for src in sorted((tiny_cache.parent / "src").rglob("*.mp4"))[:6]:
        shutil.copy(src, base / "footage" / src.name)
    extract(base / "footage", base / "cache", ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    return base / "cache"


def test_unlabelled_videos_pretrain_with_subset_all(unlabelled_cache, tmp_path):
    flags = [*TINY_FLAGS, "--set", "moco.crop=24", "--set", "moco.queue_size=8"]
    r = run("pretrain", "--method", "moco", "--cache", unlabelled_cache, "--out", tmp_path / "r", *flags)
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "split 1 not in cache" in text and "to pretrain on unlabelled videos pass --subset all" in text
    r = run("pretrain", "--method", "moco", "--cache", unlabelled_cache, "--out", tmp_path / "r", *flags,
            "--subset", "all")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "checkpoints" / "last.pt").exists()


def test_commands_that_need_labels_say_so_in_one_line(unlabelled_cache, tmp_path):
    r = run("pretrain", "--method", "supervised", "--cache", unlabelled_cache, "--out", tmp_path / "s", *TINY_FLAGS,
            "--subset", "all", "--set", "supervised.crop=24")
    assert r.exit_code == 2
    assert "method 'supervised' needs labels and cache" in " ".join(r.output.split())
    for protocol in ("knn", "retrieval"):
        r = run("eval", protocol, "--cache", unlabelled_cache, "--random-init", "--backbone", "tiny",
                "--out", tmp_path / "e")
        assert r.exit_code == 2, r.output
        text = " ".join(r.output.split())
        assert "evaluation needs labelled train/test splits (vssl extract --splits DIR)" in text
        assert len([ln for ln in r.output.splitlines() if ln.startswith("error")]) == 1


def test_knn_monitor_on_an_unlabelled_cache_is_one_line(unlabelled_cache, tmp_path):
    r = run("pretrain", "--method", "moco", "--cache", unlabelled_cache, "--out", tmp_path / "m", *TINY_FLAGS,
            "--subset", "all", "--set", "moco.crop=24", "--set", "moco.queue_size=8", "--monitor", "knn")
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert "split 1 not in cache" in text and "--monitor knn needs a cache with labelled train/test splits" in text
    assert not (tmp_path / "m" / "checkpoints").exists()
    r = run("pretrain", "--method", "moco", "--cache", unlabelled_cache, "--out", tmp_path / "m", *TINY_FLAGS,
            "--monitor", "kmeans")
    assert r.exit_code == 2
    assert "'run.monitor' must be one of none, knn, got 'kmeans' (in the command-line options)" in " ".join(r.output.split())
