"""``vssl bench faults``: the fault-injection scenarios of issue 14, in a temporary directory.

Every scenario runs the real command line (``python -m vssl.cli.main ...``) on a small
``vssl synth`` dataset: first once uninterrupted (the reference, which also gives the run's
duration), then ``kills`` times killed with SIGKILL at a seeded random moment between 5 % and
95 % of that duration, each time rerun from where the killed run left it, and finally rerun to
the end. What is compared with the reference is the scenario's ``expected`` column. Scenarios
that cannot run here (the read-only cache needs root for a read-only tmpfs, or a user whose
file modes count) are reported as skipped.

Each scenario returns a :class:`Outcome`; :func:`run_faults` runs the chosen ones and never
raises for a failed check (it is a row with ``passed = False``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

VSSL = [sys.executable, "-m", "vssl.cli.main"]
EXTRACT = ["-q", "-j", "1", "--size", "32", "--min-frames", "8"]
CLIPS = ["--backbone", "tiny", "--random-init", "--clips", "1", "--clip-len", "4", "--resize", "32", "--size", "24",
         "-j", "0", "-q", "--device", "cpu"]
PRETRAIN = ["--method", "moco", "--backbone", "tiny", "--steps", "12", "--batch-size", "4", "-j", "0", "--device", "cpu",
            "--clip-len", "4", "--stride", "2", "--save-every", "1", "-q", "--set", "data.load_size=[32, 40]",
            "--set", "moco.crop=24", "--set", "moco.queue_size=16", "--set", "run.tensorboard=false"]


@dataclass
class Outcome:
    scenario: str
    expected: str
    observed: str
    passed: bool | None  # None: skipped
    seconds: float


# rich wraps at 80 columns without a terminal: keep each message on one line; shards committed every
# 0.2 s (as tests/faults does) so that the kills of these tiny runs land between and inside commits
ENV = {**os.environ, "COLUMNS": "500", "VSSL_SHARD_MAX_AGE_S": "0.2"}


def _run(args: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*VSSL, *map(str, args)], capture_output=True, text=True, env=ENV, **kw)


def _killed(args: list, delay: float) -> int | None:
    """Run ``vssl ARGS``, SIGKILL it after ``delay`` s; its exit code when it ended first, else None."""
    p = subprocess.Popen([*VSSL, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        return p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def _kill_series(args: list, kills: int, rng: random.Random, t_ref: float) -> tuple[int, int]:
    """(SIGKILLs, runs that ended before their kill) of ``kills`` killed runs of ``vssl ARGS``."""
    k = clean = 0
    for _ in range(kills):
        code = _killed(args, rng.uniform(0.05, 0.95) * t_ref)
        if code is None:
            k += 1
        else:
            clean += 1
    return k, clean


def _timed(args: list) -> tuple[subprocess.CompletedProcess, float]:
    t = time.perf_counter()
    r = _run(args)
    return r, time.perf_counter() - t


def _committed(cache: Path) -> list[str]:
    return [v["id"] for side in (cache / "shards").glob("*.json")
            for v in json.loads(side.read_text())["videos"] if v["status"] == "ok"]


# --------------------------------------------------------------------------- scenarios


def extract_kills(tmp: Path, src: Path, kills: int, rng: random.Random) -> Outcome:
    ref, t_ref = _timed(["extract", src, "--out", tmp / "ref", *EXTRACT])
    n = len(_committed(tmp / "ref"))
    args = ["extract", src, "--out", tmp / "killed", *EXTRACT]
    k, clean = _kill_series(args, kills, rng, t_ref)
    r = _run(args)
    ids = _committed(tmp / "killed")
    ok = ref.returncode == 0 and r.returncode == 0 and len(ids) == len(set(ids)) == n \
        and _run(["verify", tmp / "killed", "-q"]).returncode == 0
    return Outcome("extract, SIGKILL", f"{n} videos once, verify clean",
                   f"{k} kills ({clean} ended first): {len(set(ids))} videos, {len(ids) - len(set(ids))} doubled",
                   ok, 0.0)


def _precomputed(cache: Path, kind: str) -> dict[str, str]:
    """video id -> checksum of the arrays of every video precomputed in ``cache/kind`` (complete or not)."""
    m = cache / kind / "manifest.json"
    if not m.is_file():
        return {}
    return {v["id"]: v.get("checksum") for v in json.loads(m.read_text())["videos"] if v.get("status") == "ok"}


def precompute_kills(tmp: Path, cache: Path, kills: int, rng: random.Random) -> Outcome:
    """``vssl precompute fame`` and ``be`` killed ``kills`` times each on a copy of the cache, then rerun:
    every video once with the uninterrupted run's checksums, verify clean."""
    ref, killed = tmp / "ref", tmp / "killed"
    shutil.copytree(cache, ref)
    shutil.copytree(cache, killed)
    ok, parts = True, []
    for kind in ("fame", "be"):
        args = ["precompute", kind, "-q", "-j", "1", "--window", "8", "--stride", "8"]
        r0, t_ref = _timed([*args, ref])
        k, clean = _kill_series([*args, killed], kills, rng, t_ref)
        r = _run([*args, killed])
        a, b = _precomputed(ref, kind), _precomputed(killed, kind)
        same = r0.returncode == 0 and r.returncode == 0 and bool(a) and a == b
        ok = ok and same
        parts.append(f"{kind}: {k} kills ({clean} ended first), {len(b)}/{len(a)} videos "
                     f"{'equal' if same else 'DIFFER'}")
    v = _run(["verify", killed, "-q"])
    ok = ok and v.returncode == 0
    return Outcome("precompute fame + be, SIGKILL", "every video once, checksums equal the uninterrupted run's, "
                   "verify clean", "; ".join(parts) + f"; verify exit {v.returncode}", ok, 0.0)


def pretrain_kills(tmp: Path, cache: Path, kills: int, rng: random.Random) -> Outcome:
    import torch

    ref, t_ref = _timed(["pretrain", "--cache", cache, "--out", tmp / "ref", *PRETRAIN])
    args = ["pretrain", "--cache", cache, "--out", tmp / "killed", *PRETRAIN]
    k, clean = _kill_series(args, kills, rng, t_ref)
    r = _run(args)
    same = False
    if ref.returncode == 0 and r.returncode == 0:
        a, b = (torch.load(d / "checkpoints" / "last.pt", weights_only=True) for d in (tmp / "ref", tmp / "killed"))
        same = a["step"] == b["step"] and all(torch.equal(a["model"][key], b["model"][key]) for key in a["model"])
    return Outcome("pretrain, SIGKILL", "final weights equal the uninterrupted run's",
                   f"{k} kills ({clean} ended first): weights {'equal' if same else 'DIFFER'}", same, 0.0)


def _eval_kills(name: str, protocol: list, tmp: Path, cache: Path, kills: int, rng: random.Random) -> Outcome:
    ref, t_ref = _timed(["eval", *protocol, "--cache", cache, "--out", tmp / "ref", *CLIPS])
    args = ["eval", *protocol, "--cache", cache, "--out", tmp / "killed", *CLIPS]
    k, clean = _kill_series(args, kills, rng, t_ref)
    r = _run(args)
    key = protocol[0]
    same = False
    if ref.returncode == 0 and r.returncode == 0:
        a, b = (json.loads((d / "metrics.json").read_text())["results"][key]["metrics"]
                for d in (tmp / "ref", tmp / "killed"))
        same = a == b
    return Outcome(name, "the rerun's metrics equal the uninterrupted run's",
                   f"{k} kills ({clean} ended first): metrics {'equal' if same else 'DIFFER'}", same, 0.0)


def finetune_kills(tmp: Path, cache: Path, kills: int, rng: random.Random) -> Outcome:
    return _eval_kills("eval finetune, SIGKILL", ["finetune", "--epochs", "3", "--batch-size", "2", "--save-every", "3"],
                       tmp, cache, kills, rng)


def retrieval_kills(tmp: Path, cache: Path, kills: int, rng: random.Random) -> Outcome:
    return _eval_kills("eval retrieval, SIGKILL", ["retrieval"], tmp, cache, kills, rng)


def damaged(tmp: Path, src: Path, cache: Path) -> Outcome:
    """A torn manifest (verify: exit 3, one line; the extract rerun rebuilds it) and a shard truncated
    after commit (verify: exit 1 naming it)."""
    torn = tmp / "torn"
    shutil.copytree(cache, torn)
    text = (torn / "manifest.json").read_text()
    (torn / "manifest.json").write_text(text[: len(text) // 2])
    v1 = _run(["verify", torn, "-q"])
    rebuilt = _run(["extract", src, "--out", torn, *EXTRACT]).returncode == 0 and \
        _run(["verify", torn, "-q"]).returncode == 0
    cut = tmp / "truncated"
    shutil.copytree(cache, cut)
    shard = sorted((cut / "shards").glob("*.h5"))[0]
    b = shard.read_bytes()
    shard.write_bytes(b[: len(b) // 3])
    v2 = _run(["verify", cut, "-q"])
    ok = v1.returncode == 3 and "Traceback" not in v1.stderr and rebuilt and v2.returncode == 1 \
        and shard.name in " ".join((v2.stdout + v2.stderr).split())
    return Outcome("torn manifest, truncated shard", "verify: exit 3 / exit 1 naming the shard; rerun rebuilds",
                   f"exit {v1.returncode} / {v2.returncode}, rebuilt: {rebuilt}", ok, 0.0)


def read_only(tmp: Path, src: Path, cache: Path) -> Outcome:
    """Readers work on a read-only cache, writers say so in one line (exit 2)."""
    where = tmp / "ro"
    where.mkdir()
    root = os.geteuid() == 0
    if root:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(where)], capture_output=True).returncode:
            return Outcome("read-only cache", "readers work, writers: one line", "skipped (no tmpfs mount)", None, 0.0)
        shutil.copytree(cache, where / "cache")
        subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
    else:
        shutil.copytree(cache, where / "cache")
        for p in [where / "cache", *(where / "cache").rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    ro = where / "cache"
    try:
        readers = [_run(["verify", ro, "-q"]), _run(["info", ro]),
                   _run(["eval", "knn", "--cache", ro, "--out", tmp / "ro_eval", *CLIPS])]
        writers = [_run(["extract", src, "--out", ro, *EXTRACT]), _run(["precompute", "fame", ro, "-q", "-j", "1"]),
                   _run(["verify", ro, "--repair", "-q"])]
    finally:
        if root:
            subprocess.run(["umount", str(where)], capture_output=True)
    r_ok = sum(r.returncode == 0 for r in readers)
    w_ok = sum(r.returncode == 2 and "is not writable" in r.stderr and "Traceback" not in r.stderr for r in writers)
    return Outcome("read-only cache", "verify, info, eval work; extract, precompute, verify --repair: one line",
                   f"{r_ok}/3 readers ok, {w_ok}/3 writers one line", r_ok == 3 and w_ok == 3, 0.0)


SCENARIOS = ("extract", "precompute", "pretrain", "finetune", "retrieval", "damaged", "read-only")


def run_faults(kills: int = 3, seed: int = 14, only: tuple[str, ...] = SCENARIOS, workdir: Path | None = None,
               progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Run the chosen scenarios in ``workdir`` (default: a temporary directory, removed after)."""
    import tempfile

    from vssl.errors import InputError

    bad = [s for s in only if s not in SCENARIOS]
    if bad:
        raise InputError(f"unknown fault scenario '{bad[0]}': choose from {', '.join(SCENARIOS)}")
    if kills < 0:
        raise InputError(f"--kills must be >= 0 (got {kills})")
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="vssl_faults_", dir=workdir) as d:
        tmp = Path(d)
        src, cache = tmp / "data" / "src", tmp / "data" / "cache"  # the options of EXTRACT: reruns into it fit
        make_synth(src, classes=3, videos_per_class=4, size=(64, 48), frames=24, seed=0, progress=False)
        extract(src, cache, ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
        jobs = {"extract": lambda t: extract_kills(t, src, kills, rng),
                "precompute": lambda t: precompute_kills(t, cache, kills, rng),
                "pretrain": lambda t: pretrain_kills(t, cache, kills, rng),
                "finetune": lambda t: finetune_kills(t, cache, kills, rng),
                "retrieval": lambda t: retrieval_kills(t, cache, kills, rng),
                "damaged": lambda t: damaged(t, src, cache),
                "read-only": lambda t: read_only(t, src, cache)}
        out = []
        for name in only:
            if progress is not None:
                progress(name)
            t0 = time.perf_counter()
            (tmp / name).mkdir()
            o = jobs[name](tmp / name)
            o.seconds = time.perf_counter() - t0
            out.append(o)
    return out


def as_dicts(outcomes: list[Outcome]) -> list[dict]:
    return [asdict(o) for o in outcomes]
