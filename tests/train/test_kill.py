"""A pretrain process killed with SIGKILL resumes, on a rerun of the same command, exactly where an
uninterrupted run would be."""

from __future__ import annotations

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


@pytest.mark.slow
def test_sigkill_then_rerun_matches_an_uninterrupted_run(tiny_cache, tmp_path):
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": 8, "run.save_every": 2})
    conf = tmp_path / "moco.yaml"
    conf.write_text(yaml.safe_dump(to_dict(cfg)))
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vssl.cli.main", "pretrain", "--config", str(conf), "--out", str(run), "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = checkpoint_path(run)
    deadline = time.time() + 120
    while not ckpt.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, p.stderr.read()[-2000:]
    killed_at = load_checkpoint(ckpt)["step"]  # never half-written (tmp + os.replace)
    assert 2 <= killed_at < 8

    s = pretrain(cfg, run, quiet=True)  # the same command again: resumes
    assert s["resumed_from"] == killed_at and s["steps"] == 8
    pretrain(cfg, tmp_path / "straight", quiet=True)
    a = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "straight")}
    b = {r["step"]: r["loss"] for r in read_metrics(run)}
    assert a == pytest.approx(b, abs=1e-6)
