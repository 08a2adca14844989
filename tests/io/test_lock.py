"""Directory locks: a second writer is refused at once naming the holder; a dead holder's lock is
taken over; readers share; `vssl verify --repair` makes the verify advice true."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.errors import CacheError
from vssl.io.lock import LOCK_NAME, dir_lock, part_lock_name, writer_lock

HOLD = """
import sys, time
from vssl.io.lock import dir_lock, writer_lock
mode, path = sys.argv[1], sys.argv[2]
if mode == "part":
    cm = writer_lock(path, "vssl extract", part=(0, 2))
else:
    cm = dir_lock(path, "vssl extract", shared=mode == "sh")
with cm:
    print("ready", flush=True)
    time.sleep(60)
"""


class Holder:
    """A child process holding a lock on ``path`` until stopped."""

    def __init__(self, path: Path, mode: str = "ex"):
        self.p = subprocess.Popen([sys.executable, "-c", HOLD, mode, str(path)], stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def kill(self):
        self.p.kill()
        self.p.wait()


@pytest.fixture
def holder():
    made = []

    def make(path, mode="ex"):
        h = Holder(path, mode)
        made.append(h)
        return h

    yield make
    for h in made:
        h.kill()


def test_second_writer_is_refused_naming_the_holder(tmp_path, holder):
    h = holder(tmp_path / "c")
    t = time.monotonic()
    with pytest.raises(CacheError) as e:
        with dir_lock(tmp_path / "c", "vssl extract"):
            pass
    assert time.monotonic() - t < 1.0  # at once, no waiting
    msg = str(e.value)
    assert f"pid {h.p.pid}" in msg and socket.gethostname() in msg and "since 20" in msg and "\n" not in msg
    assert str(tmp_path / "c") in msg
    with pytest.raises(CacheError, match="in use"):  # a reader is refused while a writer holds it
        with dir_lock(tmp_path / "c", "vssl pretrain", shared=True):
            pass


def test_a_killed_holders_lock_is_taken_over(tmp_path, holder):
    h = holder(tmp_path / "c")
    h.kill()  # SIGKILL: no cleanup ran, its record stays in the lock file
    assert json.loads((tmp_path / "c" / LOCK_NAME).read_text())["pid"] == h.p.pid
    with dir_lock(tmp_path / "c", "vssl extract") as stale:
        assert stale is not None and stale.pid == h.p.pid
        assert json.loads((tmp_path / "c" / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert (tmp_path / "c" / LOCK_NAME).read_text() == ""  # a clean release leaves no holder behind
    with dir_lock(tmp_path / "c", "vssl extract") as stale:
        assert stale is None


def test_a_lock_file_naming_a_dead_pid_is_no_obstacle(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": p.pid, "host": socket.gethostname(), "started": "x"}))
    with dir_lock(tmp_path, "vssl pretrain") as stale:
        assert stale.pid == p.pid


def test_orphaned_children_of_a_dead_holder_are_waited_for(tmp_path):
    # the holder forks a child (as a DataLoader worker) that inherits the lock, then dies by SIGKILL;
    # the child lets go a moment later: the next run waits for it instead of refusing
    code = ("import os, sys, time\nfrom vssl.io.lock import dir_lock\n"
            "with dir_lock(sys.argv[1], 'vssl pretrain'):\n"
            "    if os.fork() == 0:\n        time.sleep(1.5)\n        os._exit(0)\n"
            "    print('ready', flush=True)\n    time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with dir_lock(tmp_path, "vssl pretrain") as stale:
        assert stale.pid == p.pid


def test_readers_share_and_block_a_writer(tmp_path, holder):
    r = holder(tmp_path, "sh")
    with dir_lock(tmp_path, "vssl eval", shared=True):
        pass
    with pytest.raises(CacheError) as e:
        with dir_lock(tmp_path, "vssl extract"):
            pass
    assert f"pid {r.p.pid}" in str(e.value) and "reads it" in str(e.value)


def test_parts_of_a_split_run_coexist_but_not_with_a_whole_writer(tmp_path, holder):
    holder(tmp_path, "part")  # part 0 of 2
    with writer_lock(tmp_path, "vssl extract", part=(1, 2)):
        pass
    with pytest.raises(CacheError):
        with writer_lock(tmp_path, "vssl extract", part=(0, 2)):
            pass
    with pytest.raises(CacheError):
        with writer_lock(tmp_path, "vssl extract", part=(1, 2), whole=True):  # --force
            pass
    assert (tmp_path / part_lock_name(0, 2)).exists()


def test_the_same_process_may_take_its_lock_twice(tmp_path):
    with dir_lock(tmp_path, "a"):
        with dir_lock(tmp_path, "b"):
            pass
        with pytest.raises(CacheError):  # but its own reader cannot turn writer
            with dir_lock(tmp_path / "x", "r", shared=True):
                with dir_lock(tmp_path / "x", "w"):
                    pass


# ----------------------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    from helpers.training import build_tiny_cache

    return build_tiny_cache(tmp_path_factory.mktemp("lockcache"))


def _out(res) -> str:
    return " ".join(res.output.split())  # rich wraps long lines at the runner's 80 columns


def _one_line_error(res, code=3):
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len([ln for ln in lines if ln.startswith("error:")]) == 1 and "Traceback" not in res.output
    return next(ln for ln in lines if ln.startswith("error:"))


def test_commands_refuse_a_locked_directory_with_exit_3(cache, tmp_path, holder):
    runner = CliRunner()
    work = tmp_path / "c"
    shutil.copytree(cache, work)
    h = holder(work)
    src = cache.parent / "src"
    line = _one_line_error(runner.invoke(app, ["extract", str(src), "--out", str(work), "-q", "-j", "1"]))
    assert f"pid {h.p.pid}" in line
    for args in (["pretrain", "--method", "moco", "--cache", str(work), "--out", str(tmp_path / "run"), "-q",
                  "--device", "cpu", "--steps", "1"],
                 ["eval", "knn", "--cache", str(work), "--random-init", "--backbone", "tiny",
                  "--out", str(tmp_path / "ev"), "--device", "cpu"],
                 ["precompute", "be", str(work), "-q"],
                 ["verify", str(work), "-q"]):
        line = _one_line_error(runner.invoke(app, args))
        assert "being written" in line or "in use" in line, args
    h.kill()
    run = tmp_path / "run"
    h = holder(run)
    line = _one_line_error(runner.invoke(app, ["pretrain", "--method", "moco", "--cache", str(work), "--out", str(run),
                                               "-q", "--device", "cpu", "--steps", "1"]))
    assert f"pid {h.p.pid}" in line
    ev = tmp_path / "ev"
    h = holder(ev)
    line = _one_line_error(runner.invoke(app, ["eval", "knn", "--cache", str(work), "--random-init", "--backbone",
                                               "tiny", "--out", str(ev), "--device", "cpu"]))
    assert f"pid {h.p.pid}" in line
    h = holder(tmp_path / "merged")
    _one_line_error(runner.invoke(app, ["merge", str(work), "--out", str(tmp_path / "merged")]))


def _duplicate_shard(work: Path) -> Path:
    """What two extract runs at once used to leave: a second committed copy of a shard."""
    (h5,) = sorted((work / "shards").glob("*.h5"))
    dup = h5.with_name("extract-p000of001-20990101000000beef-w00-0000.h5")
    shutil.copy(h5, dup)
    side = json.loads(h5.with_suffix(".json").read_text())
    for v in side["videos"]:
        v["shard"] = f"shards/{dup.name}"
    dup.with_suffix(".json").write_text(json.dumps({"shard": dup.name, "videos": side["videos"]}))
    return dup


def test_verify_advice_holds_for_a_duplicate_shard(cache, tmp_path):
    runner = CliRunner()
    for fix in ("repair", "rerun"):
        work = tmp_path / fix
        shutil.copytree(cache, work)
        dup = _duplicate_shard(work)
        res = runner.invoke(app, ["verify", str(work), "-q"])
        assert res.exit_code == 1 and "not listed in the manifest" in _out(res) and "--repair" in _out(res)
        if fix == "repair":
            res = runner.invoke(app, ["verify", str(work), "-q", "--repair"])
            assert "deleted" in _out(res) and res.exit_code == 0, res.output
        else:  # a rerun of the extract command drops the duplicate too
            res = runner.invoke(app, ["extract", str(cache.parent / "src"), "--out", str(work), "-q", "-j", "1",
                                      "--size", "32", "--min-frames", "8"])
            assert res.exit_code == 0, res.output
        # one copy is left, the other deleted (sidecar and all): which one does not matter
        assert len(list((work / "shards").glob("*.h5"))) == 1 and len(list((work / "shards").glob("*.json"))) == 1
        if fix == "repair":
            assert not dup.exists()
        assert runner.invoke(app, ["verify", str(work), "-q"]).exit_code == 0
        m = json.loads((work / "manifest.json").read_text())
        assert len(m["videos"]) == 12 and len({v["id"] for v in m["videos"]}) == 12


def test_verify_repair_lists_videos_the_manifest_lost(cache, tmp_path):
    runner = CliRunner()
    work = tmp_path / "w"
    shutil.copytree(cache, work)
    m = json.loads((work / "manifest.json").read_text())
    lost = m["videos"].pop(3)
    (work / "manifest.json").write_text(json.dumps(m))
    # the only shard is still listed (other videos point at it): fine for verify, but the video is missing
    # from the manifest; make it a shard of its own so that it is unlisted
    assert runner.invoke(app, ["verify", str(work), "-q"]).exit_code == 0
    dup = _duplicate_shard(work)
    res = runner.invoke(app, ["verify", str(work), "-q"])
    assert res.exit_code == 1 and "1 videos the manifest lacks" in _out(res), res.output
    res = runner.invoke(app, ["verify", str(work), "-q", "--repair"])
    assert res.exit_code == 0 and "listed 1 of 1 videos" in _out(res), res.output
    m = json.loads((work / "manifest.json").read_text())
    got = next(v for v in m["videos"] if v["id"] == lost["id"])
    assert got["shard"] == f"shards/{dup.name}" and len(m["videos"]) == 12
