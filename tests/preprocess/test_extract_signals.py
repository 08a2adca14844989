"""SIGTERM during `vssl extract`: the video in progress is dropped, the videos done are committed, one
line, exit 75; the rerun does the rest and every video is in the cache exactly once."""

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


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("extsig") / "src"
    make_synth(root, classes=4, videos_per_class=6, size=(160, 120), frames=48, progress=False)
    return root


def _committed(cache: Path) -> list[str]:
    ids = []
    for side in (cache / "shards").glob("*.json"):
        ids += [v["id"] for v in json.loads(side.read_text())["videos"] if v["status"] == "ok"]
    return ids


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_commits_what_is_done_and_the_rerun_completes(src, tmp_path, workers):
    from vssl.cli.main import app

    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "vssl.cli.main", "extract", str(src), "--out", str(cache), "-q", "-j", str(workers)]
    env = {**os.environ, "VSSL_SHARD_MAX_AGE_S": "3600"}  # nothing is committed before the end unless stopped
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    # wait until the open shards hold a few videos (each is flushed when done): about 300 kB each
    while p.poll() is None and time.time() < deadline and sum(
            f.stat().st_size for f in (cache / "shards").glob("*.partial")) < 1_000_000 * workers:
        time.sleep(0.01)
    assert p.poll() is None, p.communicate()[1][-2000:]
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 75, err[-3000:]
    assert "Traceback" not in err and "stopped: SIGTERM:" in " ".join(err.split())
    assert not list((cache / "shards").glob("*.partial"))  # closed and committed, not left half-written
    done = _committed(cache)
    assert 0 < len(done) < 24 and len(set(done)) == len(done)
    assert not (cache / "manifest.json").exists()  # an incomplete cache is not offered to pretrain

    r = CliRunner().invoke(app, ["extract", str(src), "--out", str(cache), "-q", "-j", "1"])
    assert r.exit_code == 0, r.output
    m = json.loads((cache / "manifest.json").read_text())
    assert sorted(v["id"] for v in m["videos"]) == sorted(set(_committed(cache))) and len(m["videos"]) == 24
    assert len(_committed(cache)) == 24  # exactly once
    assert CliRunner().invoke(app, ["verify", str(cache), "-q"]).exit_code == 0
