"""A shard missing or damaged after commit: one line naming the video, the shard and `vssl verify`
(also from inside DataLoader workers); `--skip-bad-videos` leaves such a video out and counts it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from helpers.training import tiny_config
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.train.config import to_dict


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The tiny synth data with one shard per video."""
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("badvid")
    make_synth(root / "src", classes=3, videos_per_class=4, size=(64, 48), frames=32, progress=False)
    old = os.environ.get("VSSL_SHARD_MAX_AGE_S")
    os.environ["VSSL_SHARD_MAX_AGE_S"] = "0"  # commit after every video: one shard each
    try:
        extract(root / "src", root / "cache", ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    finally:
        if old is None:
            os.environ.pop("VSSL_SHARD_MAX_AGE_S")
        else:
            os.environ["VSSL_SHARD_MAX_AGE_S"] = old
    assert len(list((root / "cache" / "shards").glob("*.h5"))) == 12
    return root / "cache"


def _damaged(cache: Path, tmp_path: Path, how: str) -> tuple[Path, str, Path]:
    """A copy of the cache with the shard of one train video missing or overwritten in its middle."""
    work = tmp_path / "c"
    shutil.copytree(cache, work)
    m = json.loads((work / "manifest.json").read_text())
    rec = next(r for r in m["videos"] if r["status"] == "ok" and r["splits"].get("1") == "train")
    shard = work / rec["shard"]
    if how == "missing":
        shard.unlink()
    else:  # bytes damaged after commit: all but the first and last 4 kB zeroed
        b = bytearray(shard.read_bytes())
        b[4096:-4096] = bytes(len(b) - 8192)
        shard.write_bytes(bytes(b))
    return work, rec["id"], shard


def _pretrain_args(cache: Path, tmp_path: Path, workers: int, *extra: str) -> list[str]:
    cfg = tiny_config("moco", cache, **{"optim.steps": 3, "data.workers": workers})
    conf = tmp_path / "conf.yaml"
    conf.write_text(yaml.safe_dump(to_dict(cfg)))
    return ["pretrain", "--config", str(conf), "--out", str(tmp_path / "run"), "-q", *extra]


def _error(res, code=3) -> str:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and "Original" not in res.output, res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    return line


@pytest.mark.parametrize("how", ["missing", "damaged"])
@pytest.mark.parametrize("workers", [0, 1])
def test_pretrain_names_the_bad_video(cache, tmp_path, how, workers):
    work, vid, shard = _damaged(cache, tmp_path, how)
    line = _error(CliRunner().invoke(app, _pretrain_args(work, tmp_path, workers)))
    assert f"video '{vid}'" in line and str(shard) in line and "vssl verify" in line


def test_eval_names_the_bad_video_from_a_worker(cache, tmp_path):
    work, vid, shard = _damaged(cache, tmp_path, "missing")
    res = CliRunner().invoke(app, ["eval", "knn", "--cache", str(work), "--random-init", "--backbone", "tiny",
                                   "--out", str(tmp_path / "ev"), "--device", "cpu", "-q", "-j", "1", "--clips", "1",
                                   "--clip-len", "4", "--resize", "32", "--size", "24"])
    line = _error(res)
    assert f"video '{vid}'" in line and str(shard) in line and "vssl verify" in line


@pytest.mark.parametrize("workers", [0, 1])
def test_skip_bad_videos_leaves_it_out_once_and_counts_it(cache, tmp_path, workers):
    work, vid, shard = _damaged(cache, tmp_path, "damaged")
    res = CliRunner().invoke(app, _pretrain_args(work, tmp_path, workers, "--skip-bad-videos"))
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    doc = json.loads((run / "run.json").read_text())
    assert doc["skipped_videos"]["count"] == 1 and doc["skipped_videos"]["videos"] == [vid]
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["skipped_videos"] == 1
    (logged,) = [json.loads(r) for r in (run / "skipped_videos.jsonl").read_text().splitlines()]
    assert logged["video"] == vid and logged["shard"] == str(shard) and "vssl verify" in logged["reason"]
    if workers == 0:  # (a worker's stderr does not reach CliRunner's capture)
        warned = [ln for ln in res.output.splitlines() if "left out" in ln]
        assert len(warned) == 1 and vid in warned[0]
