"""A full disk: one line, exit 6, a free-space check before large writes, nothing committed lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.errors import DiskFullError
from vssl.utils import fs as utils_fs


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("full") / "src"
    make_synth(root, classes=3, videos_per_class=4, size=(64, 48), frames=32, progress=False)
    return root


EXTRACT = ["-q", "-j", "1", "--size", "32", "--min-frames", "8"]


def _committed(cache: Path) -> list[str]:
    return [v["id"] for side in (cache / "shards").glob("*.json")
            for v in json.loads(side.read_text())["videos"] if v["status"] == "ok"]


def test_extract_stops_before_the_disk_is_full_and_the_rerun_completes(src, tmp_path, monkeypatch):
    import vssl.io.shards as shards

    calls = []

    def free(path):  # plenty for 5 videos, then 10 MB: below the 32 MB kept free
        calls.append(path)
        return (1 << 40) if len(calls) <= 5 else 10 << 20

    monkeypatch.setattr(shards, "free_bytes", free)
    cache = tmp_path / "c"
    res = CliRunner().invoke(app, ["extract", str(src), "--out", str(cache), *EXTRACT])
    assert res.exit_code == 6, res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert "not enough space" in line and "10 MB free" in " ".join(res.output.split()) and "Traceback" not in res.output
    assert len(_committed(cache)) == 5  # the videos done before the check were committed, not lost
    assert not (cache / "manifest.json").exists()
    monkeypatch.undo()
    res = CliRunner().invoke(app, ["extract", str(src), "--out", str(cache), *EXTRACT])
    assert res.exit_code == 0, res.output
    assert sorted(_committed(cache)) == sorted(set(_committed(cache))) and len(_committed(cache)) == 12


def test_checkpoint_needs_room_and_keeps_the_previous_one(tmp_path, monkeypatch):
    from vssl.train.checkpoint import save_checkpoint

    path = tmp_path / "last.pt"
    save_checkpoint(path, {"w": torch.zeros(1000)})
    before = path.read_bytes()
    monkeypatch.setattr(utils_fs, "free_bytes", lambda p: 100_000)  # < 4 000 bytes of tensor + 1 MB
    with pytest.raises(DiskFullError, match="previous last.pt is kept"):
        save_checkpoint(path, {"w": torch.ones(1000)})
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp*"))


def test_a_short_write_becomes_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch):
    from vssl.utils.fs import atomic_write_json

    path = tmp_path / "manifest.json"
    atomic_write_json(path, {"a": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match="no space left on device writing .*manifest.json.*previous manifest.json"):
        atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1} and not list(tmp_path.glob("*.tmp*"))


def test_feature_cache_checks_free_space(tmp_path, monkeypatch):
    from vssl.eval.features import FeatureSet, save_features

    fs = FeatureSet(clip_feats=np.zeros((4, 8), np.float32), video_index=np.zeros(4, np.int64),
                    clip_index=np.zeros(4, np.int64), video_ids=["a"], labels=np.zeros(1, np.int64), key="k",
                    seconds=0.0)
    monkeypatch.setattr(utils_fs, "free_bytes", lambda p: 1000)
    with pytest.raises(DiskFullError, match="feature cache"):
        save_features(tmp_path / "f" / "train.npz", fs)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


@pytest.mark.slow
def test_a_real_full_disk_with_two_workers(src, tmp_path):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "2m"):
        pytest.skip("cannot mount a small tmpfs here (needs root); the monkeypatched tests cover the logic")
    try:
        env = {**os.environ, "VSSL_MIN_FREE_MB": "0.5"}  # let it start: the disk fills during the run
        r = subprocess.run([sys.executable, "-m", "vssl.cli.main", "extract", str(src), "--out", str(mnt / "c"),
                            "-q", "-j", "2", "--size", "32", "--min-frames", "8"], capture_output=True, text=True,
                           env=env, timeout=300)
        assert r.returncode == 6, r.stderr[-3000:]
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "space" in errors[0] and "free space and rerun" in errors[0], r.stderr[-3000:]
        kept = _committed(mnt / "c")
        assert len(kept) == len(set(kept))
        # more room (a copy elsewhere): the rerun completes with every video once
        shutil.copytree(mnt / "c", tmp_path / "c")
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    res = CliRunner().invoke(app, ["extract", str(src), "--out", str(tmp_path / "c"), *EXTRACT[:1], "-j", "2",
                                   "--size", "32", "--min-frames", "8"])
    assert res.exit_code == 0, res.output
    assert len(_committed(tmp_path / "c")) == 12 and CliRunner().invoke(app, ["verify", str(tmp_path / "c"),
                                                                              "-q"]).exit_code == 0
