"""Paths read from a manifest or sidecar stay inside the cache, or one line names the entry (exit 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.errors import CacheError
from vssl.io.manifest import entry_path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    from helpers.training import build_tiny_cache

    return build_tiny_cache(tmp_path_factory.mktemp("pathcache"))


def _error_line(res, code=3) -> str:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    return line


@pytest.mark.parametrize("bad", ["../../../etc/passwd", "/etc/passwd", "shards/../../x.h5", "", None])
def test_entry_path_refuses_what_leaves_the_root(tmp_path, bad):
    with pytest.raises(CacheError, match="entry"):
        entry_path(tmp_path, bad, "manifest.json: video 'v1'")


def test_entry_path_keeps_a_symlinked_shard_dir(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "shards").symlink_to(tmp_path / "elsewhere")
    assert entry_path(tmp_path / "c", "shards/a.h5", "x") == tmp_path / "c" / "shards" / "a.h5"


@pytest.mark.parametrize("bad", ["../../../etc/passwd", "/etc/passwd"])
def test_a_hostile_manifest_is_refused_by_every_reader(cache, tmp_path, bad):
    work = tmp_path / "c"
    shutil.copytree(cache, work)
    m = json.loads((work / "manifest.json").read_text())
    vid = m["videos"][2]["id"]
    m["videos"][2]["shard"] = bad
    (work / "manifest.json").write_text(json.dumps(m))
    runner = CliRunner()
    for args in (["verify", str(work), "-q"], ["info", str(work)],
                 ["pretrain", "--method", "moco", "--cache", str(work), "--out", str(tmp_path / "run"), "-q",
                  "--device", "cpu", "--steps", "1", "--backbone", "tiny"],
                 ["eval", "knn", "--cache", str(work), "--random-init", "--backbone", "tiny",
                  "--out", str(tmp_path / "ev"), "--device", "cpu", "-q"],
                 ["merge", str(work), "--out", str(tmp_path / "merged")]):
        line = _error_line(runner.invoke(app, args))
        assert f"video '{vid}'" in line and bad in line and "outside" in line, args
    assert not list((tmp_path / "merged").glob("shards/*"))  # nothing copied


def test_a_hostile_sidecar_is_refused_on_resume(cache, tmp_path):
    work = tmp_path / "c"
    shutil.copytree(cache, work)
    (side,) = (work / "shards").glob("*.json")
    d = json.loads(side.read_text())
    d["videos"][0]["shard"] = "../../../etc/passwd"
    side.write_text(json.dumps(d))
    res = CliRunner().invoke(app, ["extract", str(cache.parent / "src"), "--out", str(work), "-q", "-j", "1",
                                   "--size", "32", "--min-frames", "8"])
    line = _error_line(res)
    assert str(side) in line and "not in its own shard" in line
    assert side.with_suffix(".h5").exists()  # nothing deleted
