"""Fault injection for `vssl eval` (issue 14): SIGKILL during finetune, retrieval and linear, then rerun;
and a read-only cache. Marked slow.

``VSSL_FAULTS=N`` sets the number of kills per command (default 1; each costs a process start). Each test prints its figures (faults injected, runs that ended cleanly, what differed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vssl.cli.main import app

pytestmark = pytest.mark.slow
CLIPS = ["--backbone", "tiny", "--random-init", "--clips", "1", "--clip-len", "4", "--resize", "32", "--size", "24",
         "-j", "0", "-q", "--device", "cpu"]
FINETUNE = [*CLIPS, "--epochs", "2", "--batch-size", "2", "--save-every", "3"]


def _n(default: int) -> int:
    return int(os.environ.get("VSSL_FAULTS", default))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("evalfaults")
    make_synth(root / "src", classes=3, videos_per_class=4, size=(64, 48), frames=24, progress=False)
    extract(root / "src", root / "cache", ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    return root / "cache"


def _kill_when(args: list[str], ready, extra_s: float, timeout: float = 120) -> int | None:
    """Run ``vssl ARGS`` in a forked child (modules already imported: no start-up cost); once ``ready()``
    holds, wait ``extra_s`` and SIGKILL it. The exit code if it ended first, else None."""
    pid = os.fork()
    if pid == 0:  # the child: the command, then out without pytest's teardown
        code = 1
        try:
            torch.set_num_threads(1)  # as in DataLoader workers: the parent's OpenMP pool does not survive a fork
            code = CliRunner().invoke(app, args).exit_code
        finally:
            os._exit(code)
    deadline = time.time() + timeout
    ended = lambda: os.waitpid(pid, os.WNOHANG)  # noqa: E731
    status = (0, 0)
    while status[0] == 0 and not ready() and time.time() < deadline:
        status = ended()
        time.sleep(0.005)
    t_kill = time.time() + extra_s
    while status[0] == 0 and time.time() < t_kill:
        status = ended()
        time.sleep(0.005)
    if status[0] != 0:
        return os.waitstatus_to_exitcode(status[1])
    os.kill(pid, signal.SIGKILL)
    _, st = os.waitpid(pid, 0)
    return None if os.WIFSIGNALED(st) else os.waitstatus_to_exitcode(st)


def _rows(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def _results(ev: Path) -> dict:
    return json.loads((ev / "metrics.json").read_text())["results"]


def _nothing_looks_complete_but_is_not(ev: Path) -> None:
    """Every file under its final name is whole: metrics.json parses, feature files load, PNGs decode;
    what a kill cut short can only be a ``*.tmpPID`` file."""
    import cv2

    from vssl.eval.features import load_features

    for p in ev.rglob("*"):
        if p.is_dir() or ".tmp" in p.name:
            continue
        if p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".npz":
            assert load_features(p) is not None, p
        elif p.suffix == ".png":
            assert cv2.imread(str(p)) is not None, p
        elif p.suffix == ".pt":
            torch.load(p, weights_only=True)


def test_finetune_killed_with_sigkill_resumes_to_the_uninterrupted_result(cache, tmp_path):
    ev = tmp_path / "killed"
    log = ev / "finetune" / "metrics.jsonl"
    cmd = ["eval", "finetune", "--cache", str(cache), "--out", str(ev), *FINETUNE]
    rng = random.Random(18)
    kills = clean = 0
    for _ in range(_n(1)):
        target = max(rng.randint(1, 7), _rows(log) + 1)  # of 8 steps (9 train videos, batch 2, 2 epochs)
        code = _kill_when(cmd, lambda: _rows(log) >= target, rng.uniform(0.0, 0.05))
        if code is None:
            kills += 1
            _nothing_looks_complete_but_is_not(ev)
        else:
            assert code == 0
            clean += 1
    runner = CliRunner()
    r = runner.invoke(app, ["eval", "finetune", "--cache", str(cache), "--out", str(ev), *FINETUNE])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "finetune", "--cache", str(cache), "--out", str(tmp_path / "straight"), *FINETUNE])
    assert r.exit_code == 0, r.output
    a, b = _results(ev)["finetune"], _results(tmp_path / "straight")["finetune"]
    loss = {d: {r["step"]: r["loss"] for r in map(json.loads, (d / "finetune" / "metrics.jsonl").read_text().splitlines())}
            for d in (ev, tmp_path / "straight")}
    print(f"\nfaults finetune: {kills} SIGKILLs, {clean} runs ended clean, metrics equal: {a['metrics'] == b['metrics']}")
    assert a["complete"] and a["steps"] == b["steps"] == 8
    assert sorted(loss[ev]) == list(range(1, 9))  # every step once, none lost or doubled by the kills
    assert loss[ev] == pytest.approx(loss[tmp_path / "straight"], abs=1e-6)
    assert a["metrics"] == b["metrics"]  # the same weights at the end: the same test predictions


def test_retrieval_and_linear_killed_leave_nothing_half_written_and_rerun_the_same(cache, tmp_path):
    rng = random.Random(19)
    kills = clean = 0
    runner = CliRunner()
    same = {}
    for protocol in ("retrieval", "linear"):
        ev = tmp_path / protocol
        cmd = ["eval", protocol, "--cache", str(cache), "--out", str(ev), *CLIPS]
        for _ in range(_n(1)):
            # a random point from the start of the feature pass to past the end (writes included)
            code = _kill_when(cmd, lambda: (ev / "features").exists(), rng.uniform(0.0, 1.5))
            if code is None:
                kills += 1
                _nothing_looks_complete_but_is_not(ev)
            else:
                assert code == 0
                clean += 1
        r = runner.invoke(app, ["eval", protocol, "--cache", str(cache), "--out", str(ev), *CLIPS])
        assert r.exit_code == 0, r.output
        _nothing_looks_complete_but_is_not(ev)
        r = runner.invoke(app, ["eval", protocol, "--cache", str(cache), "--out", str(tmp_path / "straight"), *CLIPS])
        assert r.exit_code == 0, r.output
        same[protocol] = _results(ev)[protocol]["metrics"] == _results(tmp_path / "straight")[protocol]["metrics"]
    print(f"\nfaults retrieval/linear: {kills} SIGKILLs, {clean} runs ended clean, metrics equal: {same}")
    assert all(same.values())


def _read_only_copy(src: Path, where: Path) -> Path:
    """A copy of ``src`` that cannot be written: a tmpfs remounted read-only as root (root ignores file
    modes), files without write permission otherwise."""
    where.mkdir()
    if os.geteuid() != 0:
        dst = where / src.name
        shutil.copytree(src, dst)
        for p in [dst, *dst.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return dst
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here to make a read-only cache")
    shutil.copytree(src, where / src.name)
    if subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True).returncode:
        subprocess.run(["umount", str(where)], capture_output=True)
        pytest.skip("cannot remount the tmpfs read-only")
    return where / src.name


def test_read_only_cache_reading_commands_work_writers_say_so_in_one_line(cache, tmp_path):
    ro = _read_only_copy(cache, tmp_path / "ro")
    try:
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")
        runner = CliRunner()

        def run(*args):
            r = runner.invoke(app, [str(a) for a in args])
            assert "Traceback" not in r.output, r.output
            return r

        vid = json.loads((ro / "manifest.json").read_text())["videos"][0]["id"]
        for args in (["verify", ro, "-q"], ["info", ro],
                     ["show", "be", ro, vid, "--out", tmp_path / "be.png", "--window", "4"],
                     ["eval", "knn", "--cache", ro, "--out", tmp_path / "ev", *CLIPS],
                     ["pretrain", "--method", "moco", "--cache", ro, "--out", tmp_path / "run", "--backbone", "tiny",
                      "--steps", "1", "--batch-size", "4", "-j", "0", "--device", "cpu", "--clip-len", "4", "-q",
                      "--set", "data.load_size=[32, 40]", "--set", "moco.crop=24", "--set", "moco.queue_size=16",
                      "--set", "run.tensorboard=false"],
                     ["merge", ro, "--out", tmp_path / "merged"]):
            r = run(*args)
            assert r.exit_code == 0, (args, r.output)
        src = cache.parent / "src"
        for args, what in ((["extract", src, "--out", ro, "-q", "-j", "1", "--size", "32", "--min-frames", "8"],
                            "vssl extract"),
                           (["precompute", "fame", ro, "-q", "-j", "1", "--window", "4", "--stride", "2"],
                            "vssl precompute fame"),
                           (["verify", ro, "--repair", "-q"], "vssl verify --repair")):
            r = run(*args)
            lines = [ln for ln in r.output.splitlines() if ln.strip()]
            assert r.exit_code == 2 and len(lines) == 1, (args, r.output)
            assert "is not writable" in lines[0] and f"{what} writes there" in lines[0], lines[0]
        assert sorted(p.name for p in ro.iterdir()) == sorted(p.name for p in cache.iterdir())
        assert np.array_equal(np.fromfile(ro / "manifest.json", np.uint8), np.fromfile(cache / "manifest.json", np.uint8))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(tmp_path / "ro")], capture_output=True)
