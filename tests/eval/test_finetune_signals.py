"""SIGTERM during `vssl eval finetune`: the step finishes, the checkpoint is written, one line, exit 75;
the rerun continues with the loss curve of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

ARGS = ["--backbone", "tiny", "--random-init", "--clips", "1", "--clip-len", "4", "--resize", "32", "--size", "24",
        "-j", "0", "-q", "--epochs", "6", "--batch-size", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("ftsig")
    make_synth(root / "src", classes=3, videos_per_class=4, size=(64, 48), frames=24, progress=False)
    extract(root / "src", root / "cache", ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    return root / "cache"


def _losses(ev: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, (ev / "finetune" / "metrics.jsonl").read_text().splitlines())}


@pytest.mark.slow
def test_sigterm_during_finetune_saves_and_resumes_the_same_curve(cache, tmp_path):
    from vssl.cli.main import app

    ev = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "vssl.cli.main", "eval", "finetune", "--cache", str(cache), "--out", str(ev), *ARGS]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = ev / "finetune" / "metrics.jsonl"
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline and not (log.exists() and log.read_text().strip()):
        time.sleep(0.01)
    assert p.poll() is None, p.stderr.read()[-2000:]
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 75, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("stopped: SIGTERM at finetune step "), err
    import torch

    step = torch.load(ev / "finetune" / "checkpoint.pt", weights_only=True)["step"]
    assert 1 <= step < 24 and f"step {step} of 24" in lines[0]
    assert max(_losses(ev)) == step

    r = CliRunner().invoke(app, ["eval", "finetune", "--cache", str(cache), "--out", str(ev), *ARGS])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["eval", "finetune", "--cache", str(cache), "--out", str(tmp_path / "straight"),
                                 *ARGS])
    assert r.exit_code == 0, r.output
    a, b = _losses(tmp_path / "straight"), _losses(ev)
    assert sorted(a) == sorted(b) == list(range(1, 25))
    assert a == pytest.approx(b, abs=1e-6)
