"""Training logs: metrics.jsonl always, TensorBoard by default, W&B with --logger wandb (offline here)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from vssl.cli.main import app

runner = CliRunner()
FLAGS = ["--method", "moco", "--backbone", "tiny", "--steps", "2", "--batch-size", "4", "--workers", "0",
         "--device", "cpu", "--clip-len", "4", "--stride", "2", "--log-every", "1", "--quiet",
         "--set", "data.load_size=[32, 40]", "--set", "moco.crop=24", "--set", "moco.queue_size=16"]


def _run(*args, env=None):
    r = runner.invoke(app, [str(a) for a in args], env=env)
    assert "Traceback" not in r.output
    return r


def test_logger_option_is_checked(tiny_cache, tmp_path):
    r = _run("pretrain", "--cache", tiny_cache, "--out", tmp_path / "r", *FLAGS, "--logger", "mlflow")
    assert r.exit_code == 2
    assert "--logger must be tensorboard, wandb, both (tensorboard,wandb) or none, not 'mlflow'" in r.output


def test_none_logs_metrics_jsonl_only(tiny_cache, tmp_path):
    r = _run("pretrain", "--cache", tiny_cache, "--out", tmp_path / "r", *FLAGS, "--logger", "none")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "metrics.jsonl").stat().st_size > 0
    assert not (tmp_path / "r" / "tb").exists() and not (tmp_path / "r" / "wandb").exists()


def test_wandb_without_the_package_is_one_line(tiny_cache, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    r = _run("pretrain", "--cache", tiny_cache, "--out", tmp_path / "r", *FLAGS, "--logger", "wandb")
    assert r.exit_code == 2
    assert "--logger wandb needs the wandb package: pip install wandb" in " ".join(r.output.split())


@pytest.mark.slow
def test_wandb_offline_logs_and_resumes_the_same_run(tiny_cache, tmp_path):
    pytest.importorskip("wandb", reason="wandb not installed (pip install wandb)")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": str(tmp_path / "cfg"),
           "WANDB_CACHE_DIR": str(tmp_path / "cache"), "WANDB_API_KEY": ""}
    out = tmp_path / "r"
    r = _run("pretrain", "--cache", tiny_cache, "--out", out, *FLAGS, "--logger", "tensorboard,wandb", env=env)
    assert r.exit_code == 0, r.output
    run_id = (out / "wandb_id").read_text().strip()
    offline = list((out / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(offline) == 1 and list(offline[0].glob("*.wandb")), list((out / "wandb").iterdir())
    assert list((out / "tb").iterdir())
    r = _run("pretrain", "--cache", tiny_cache, "--out", out, *FLAGS, "--logger", "wandb",
             env=env)  # the same command again: it resumes, and logs under the same W&B id
    assert r.exit_code == 0, r.output
    assert (out / "wandb_id").read_text().strip() == run_id
    assert len(list((out / "wandb").glob(f"offline-run-*-{run_id}"))) == 2
