"""SIGTERM / SIGINT / SIGUSR1 during pretrain: the step finishes, a checkpoint is written, one line says
how to resume, the exit code is documented; the rerun continues with the uninterrupted loss curve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from helpers.training import tiny_config

from vssl.train.checkpoint import checkpoint_path, load_checkpoint
from vssl.train.config import to_dict
from vssl.train.logging import read_metrics
from vssl.train.loop import pretrain

TOTAL = 14


def _start(cfg, tmp_path, run):
    conf = tmp_path / f"{run.name}.yaml"
    conf.write_text(yaml.safe_dump(to_dict(cfg)))
    cmd = [sys.executable, "-m", "vssl.cli.main", "pretrain", "--config", str(conf), "--out", str(run), "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _signal_after_first_log(p, run, signum):
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        if metrics.exists() and metrics.read_text().strip():
            break
        time.sleep(0.01)
    assert p.poll() is None, p.stderr.read()[-2000:]
    os.kill(p.pid, signum)
    _, err = p.communicate(timeout=120)
    return err


@pytest.mark.slow
def test_sigterm_saves_and_the_rerun_matches_an_uninterrupted_run(tiny_cache, tmp_path):
    # log every 4 steps: the stop usually falls between two log steps, whose losses must survive the stop
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": TOTAL, "run.log_every": 4, "run.save_every": 100})
    run = tmp_path / "stopped"
    p = _start(cfg, tmp_path, run)
    err = _signal_after_first_log(p, run, signal.SIGTERM)
    assert p.returncode == 75, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("stopped: SIGTERM at step ") and "rerun the same command to resume" in lines[0]
    stopped_at = load_checkpoint(checkpoint_path(run))["step"]
    assert f"at step {stopped_at} of {TOTAL}" in lines[0]
    assert 4 <= stopped_at < TOTAL  # a checkpoint although --save-every was never reached

    s = pretrain(cfg, run, quiet=True)  # the same command again
    assert s["resumed_from"] == stopped_at and s["steps"] == TOTAL
    pretrain(cfg, tmp_path / "straight", quiet=True)
    a = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "straight")}
    b = {r["step"]: r["loss"] for r in read_metrics(run)}
    assert sorted(a) == sorted(b) == [4, 8, 12, 14]
    assert a == pytest.approx(b, abs=1e-6)
    # and the final weights are the same
    wa = load_checkpoint(checkpoint_path(tmp_path / "straight"))["model"]
    wb = load_checkpoint(checkpoint_path(run))["model"]
    assert all((wa[k] == wb[k]).all() for k in wa)


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGUSR1, 75)])
def test_sigint_and_sigusr1_save_too(tiny_cache, tmp_path, signum, code):
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": TOTAL, "run.log_every": 1, "run.save_every": 100})
    run = tmp_path / "stopped"
    p = _start(cfg, tmp_path, run)
    err = _signal_after_first_log(p, run, signum)
    assert p.returncode == code, err[-2000:]
    assert f"stopped: {signal.Signals(signum).name} at step" in err and "Traceback" not in err
    step = load_checkpoint(checkpoint_path(run))["step"]
    logged = [r["step"] for r in read_metrics(run)]
    assert logged[-1] == step  # logged up to the checkpoint, nothing beyond
    assert json.loads((run / "run.json").read_text())["total_steps"] == TOTAL


@pytest.mark.slow
def test_sigterm_to_the_whole_job_with_dataloader_workers(tiny_cache, tmp_path):
    # Slurm signals every process of the job: the DataLoader workers die, the main process still saves
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": TOTAL, "run.log_every": 1, "run.save_every": 100,
                                             "data.workers": 1})
    run = tmp_path / "stopped"
    conf = tmp_path / "w.yaml"
    conf.write_text(yaml.safe_dump(to_dict(cfg)))
    cmd = [sys.executable, "-m", "vssl.cli.main", "pretrain", "--config", str(conf), "--out", str(run), "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline and not (metrics.exists() and metrics.read_text().strip()):
        time.sleep(0.01)
    assert p.poll() is None, p.stderr.read()[-2000:]
    os.killpg(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 75, err[-3000:]
    assert "Traceback" not in err and "stopped: SIGTERM at step" in err, err[-3000:]
    step = load_checkpoint(checkpoint_path(run))["step"]
    assert 1 <= step < TOTAL
    s = pretrain(cfg, run, quiet=True)
    assert s["resumed_from"] == step and s["steps"] == TOTAL
