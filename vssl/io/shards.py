"""Parallel, resumable writing of per-video results into HDF5 shards.

Used by ``vssl extract`` and ``vssl precompute``. Each worker process owns its
shard files (no HDF5 handle crosses a process). A shard is written as
``NAME.h5.partial``, renamed to ``NAME.h5`` when closed, and committed by
writing ``NAME.json`` (the records of every video in it, ok or failed). On a
rerun, committed videos are skipped and anything uncommitted is deleted, so a
run killed at any point ends, when rerun, with every video exactly once.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue as queue_mod
import secrets
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vssl.errors import CacheError, DiskFullError, VsslError
from vssl.io import schema
from vssl.io.space import disk_full, free_bytes, is_enospc, mb, min_free
from vssl.signals import StopRequest
from vssl.utils.fs import atomic_write_json, fsync_path
from vssl.utils.progress import Progress

STOP_GRACE_S = 30.0  # after a stop signal, workers get this long to commit before they are terminated


@dataclass
class Job:
    """One unit of work: a video. ``payload`` must be picklable."""

    id: str
    payload: dict = field(default_factory=dict)


@dataclass
class RunResult:
    records: list[dict]  # every record, old (resumed) and new
    new: int  # videos processed in this run
    skipped: int  # videos already committed before this run
    failed_new: int
    interrupted: bool = False
    stopped_strict: str | None = None
    stop_signal: int | None = None  # SIGTERM / SIGINT / SIGUSR1 that stopped the run (None: KeyboardInterrupt)
    disk_full: str | None = None  # the one-line reason a worker stopped on a full device


# work_fn(job, group, ctx) -> record dict (without id/status/shard/group; added here).
# It writes its arrays into ``group`` (an open h5py.Group), calls ctx.progress(n)
# with frames done, and raises VsslError for an expected per-video failure.
WorkFn = Callable[[Job, Any, "WorkerContext"], dict]


class WorkerContext:
    """Handed to the work function: progress reporting and worker-local state."""

    def __init__(self, report: Callable[[tuple], None], state: dict):
        self._report = report
        self.state = state

    def progress(self, frames: int) -> None:
        if frames:
            self._report(("frames", frames))


def _shard_files(shard_dir: Path, prefix: str):
    return sorted(p for p in shard_dir.glob(prefix + "*") if p.is_file())


def scan_committed(shard_dir: Path, prefix: str = "") -> list[dict]:
    """Records of every committed shard under ``shard_dir`` whose name starts with ``prefix``."""
    records = []
    if not shard_dir.is_dir():
        return records
    for side in sorted(shard_dir.glob(prefix + "*.json")):
        if not side.with_suffix(".h5").exists():
            continue
        try:
            data = json.loads(side.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a torn sidecar cannot exist (atomic write); ignore foreign files
        own = f"{schema.SHARD_DIR}/{side.with_suffix('.h5').name}"
        videos = data.get("videos", []) if isinstance(data, dict) else []
        for r in videos:
            if not isinstance(r, dict) or not isinstance(r.get("id"), str) or r.get("shard") != own:
                what = f"video '{r.get('id')}' in '{r.get('shard')}'" if isinstance(r, dict) else "an entry"
                raise CacheError(f"sidecar {side} lists {what}, not in its own shard {own}: a damaged or foreign "
                                 "sidecar; move it and its .h5 away, then rerun")
        records.extend(videos)
    return records


def clean_uncommitted(shard_dir: Path, prefix: str) -> list[Path]:
    """Delete partial shards and shards without a sidecar; return what was removed."""
    removed = []
    if not shard_dir.is_dir():
        return removed
    for p in _shard_files(shard_dir, prefix):
        name = p.name
        stale = (
            name.endswith(schema.PARTIAL_SUFFIX)
            or ".tmp" in name
            or (name.endswith(".h5") and not p.with_suffix(".json").exists())
        )
        if stale:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def remove_superseded(shard_dir: Path, records: list[dict], chosen: dict[str, dict]) -> list[Path]:
    """Delete committed shards none of whose videos is used: each one's records are all
    duplicates of records ``chosen`` from other shards (left by two runs that once wrote
    into the same cache at the same time). Nothing is lost: every video stays in the shard
    that is kept. The sidecar goes first, so a crash in between leaves an uncommitted shard."""
    by_shard: dict[str, list[dict]] = {}
    for r in records:
        if r.get("shard"):
            by_shard.setdefault(Path(r["shard"]).name, []).append(r)
    removed = []
    for name, rs in sorted(by_shard.items()):
        if all(chosen.get(r["id"]) is not None and chosen[r["id"]] is not r
               and Path(chosen[r["id"]].get("shard", "")).name != name for r in rs):
            h5 = shard_dir / name
            h5.with_suffix(".json").unlink(missing_ok=True)
            h5.unlink(missing_ok=True)
            removed.append(h5)
    return removed


class _ShardWriter:
    """The shard files of one worker: open lazily, roll over at ``max_bytes``."""

    def __init__(self, shard_dir: Path, stem: str, max_bytes: int, attrs: dict, max_age_s: float = 600.0):
        self.shard_dir = shard_dir
        self.max_age_s = max_age_s  # commit at least this often, so a kill loses little work
        self.opened_at = 0.0
        self.stem = stem
        self.max_bytes = max_bytes
        self.attrs = attrs
        self.seq = 0
        self.h5 = None
        self.path: Path | None = None
        self.records: list[dict] = []
        self.size = 0  # bytes of the open shard after the last video
        self.largest = 0  # the most bytes one video took so far (free-space check before the next)

    @property
    def name(self) -> str:
        return f"{self.stem}-{self.seq:04d}"

    def open(self):
        from vssl.io.h5 import load_h5py

        h5py = load_h5py()

        if self.h5 is None:
            self.path = self.shard_dir / (self.name + ".h5" + schema.PARTIAL_SUFFIX)
            self.h5 = h5py.File(self.path, "w", libver="latest")
            for k, v in self.attrs.items():
                self.h5.attrs[k] = v
            self.h5.require_group(schema.VIDEO_GROUP)
            self.h5.flush()
            self.size = self.path.stat().st_size
            self.records = []
            self.opened_at = time.monotonic()
        return self.h5

    def add(self, record: dict) -> None:
        self.open()
        record["shard"] = f"{schema.SHARD_DIR}/{self.name}.h5"
        self.records.append(record)

    def maybe_roll(self) -> str | None:
        if self.h5 is not None and self.path is not None:
            self.h5.flush()
            size = self.path.stat().st_size
            self.largest, self.size = max(self.largest, size - self.size), size
            too_old = time.monotonic() - self.opened_at >= self.max_age_s
            if too_old or self.path.stat().st_size >= self.max_bytes:
                return self.commit()
        return None

    def commit(self) -> str | None:
        if self.h5 is None:
            return None
        self.h5.close()
        final = self.shard_dir / (self.name + ".h5")
        fsync_path(self.path)  # on disk before it is renamed into place, as every atomic write
        os.replace(self.path, final)
        atomic_write_json(final.with_suffix(".json"), {"shard": final.name, "videos": self.records})
        name = final.name
        self.h5, self.path, self.records = None, None, []
        self.seq += 1
        return name


def _process_one(job: Job, writer: _ShardWriter, work_fn: WorkFn, ctx: WorkerContext) -> dict:
    key = schema.video_key(job.id)
    record: dict[str, Any] = {"id": job.id, **{k: v for k, v in job.payload.items() if k in ("label", "class_name", "splits", "path")}}
    h5 = writer.open()
    vg = h5[schema.VIDEO_GROUP]
    if key in vg:  # same id twice in one run: keep the first
        del vg[key]
    group = vg.create_group(key)
    group.attrs["video_id"] = job.id
    try:
        out = work_fn(job, group, ctx)
        record.update(out)
        record["status"] = schema.OK
        record["group"] = f"{schema.VIDEO_GROUP}/{key}"
    except _DropVideo:  # a stop signal: this video is left for the rerun
        if key in vg:
            del vg[key]
        raise
    except VsslError as e:
        record.update(status=schema.FAILED, reason=str(e))
    except MemoryError:
        record.update(status=schema.FAILED, reason="out of memory while processing")
    except Exception as e:  # a bug or an unforeseen decoder error: keep the run going, say where
        if is_enospc(e):  # not the video's fault: stop this worker (the open shard is not committed)
            raise _DiskFull(str(disk_full(writer.path or writer.shard_dir, "committed shards are kept"))) from None
        frames = traceback.extract_tb(e.__traceback__)
        ours = [f for f in frames if "vssl" in f.filename]
        tb = (ours or frames)[-1]
        record.update(
            status=schema.FAILED,
            reason=f"internal error {type(e).__name__}: {e} ({Path(tb.filename).name}:{tb.lineno})",
        )
    if record["status"] != schema.OK and key in vg:
        del vg[key]
    writer.add(record)
    return record


class _DiskFull(Exception):
    """The device filled up while a video was written."""


class _DropVideo(BaseException):
    """Raised by the stop-signal handler while a video is in progress (a BaseException, so that
    the per-video error handling does not record it as a failed video)."""


def _exit_on_full_disk(message: str, report, results_q) -> None:
    """After HDF5 has failed a write it must not be called again (it crashes when its objects are
    freed): say so in one line and end the process at once. The open shard stays uncommitted
    (``.partial``: the rerun deletes it); committed shards are untouched."""
    report(("disk_full", message))
    if hasattr(results_q, "join_thread"):  # a worker process: make sure the parent gets the message
        results_q.close()
        results_q.join_thread()
        os._exit(0)
    from vssl.errors import DiskFullError

    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    os._exit(DiskFullError.exit_code)


def _worker_main(wid, stem, shard_dir, max_bytes, attrs, work_fn, init_fn, init_args, jobs_q, results_q):
    """Body of a worker process (and of the in-process path when workers == 1).

    SIGTERM / SIGINT / SIGUSR1 drop the video in progress (its group is deleted), commit the
    shard of the videos done and end the worker: the rerun does the rest."""
    from vssl.signals import StopRequest

    state: dict = {}
    if init_fn is not None:
        init_fn(state, *init_args)

    def report(msg):
        results_q.put((wid, *msg))

    busy = [False]

    def drop_if_busy():
        if busy[0]:
            busy[0] = False
            return _DropVideo()
        return None

    # HDF5 reports a full disk from h5py's destructors as "unraisable" errors (pages of them):
    # keep the first, print none, and stop the worker at the next step
    enospc: list[str] = []
    previous_hook = sys.unraisablehook

    def hook(u):
        if isinstance(u.exc_value, _DropVideo):
            # the stop signal's drop landed inside a callback (a weakref's, a destructor), where
            # Python can only print it: the video then finishes and the loop stops after it
            return
        if u.exc_value is not None and is_enospc(u.exc_value):
            if not enospc:
                enospc.append(str(disk_full(shard_dir, "committed shards are kept")))
            return
        previous_hook(u)

    sys.unraisablehook = hook
    ctx = WorkerContext(report, state)
    max_age = float(os.environ.get("VSSL_SHARD_MAX_AGE_S", "600"))
    writer = _ShardWriter(Path(shard_dir), f"{stem}-w{wid:02d}", max_bytes, attrs, max_age)
    full = None
    with StopRequest(raise_when=drop_if_busy) as stop:
        while not stop.requested:
            try:
                job = jobs_q.get()
                if job is None:
                    break
                need = max(min_free(), 2 * writer.largest)  # HDF5 crashes rather than fails on a full disk
                free = free_bytes(shard_dir)
                if free < need:
                    full = (f"not enough space to go on writing {shard_dir} ({mb(free)} free, about {mb(need)} "
                            "needed for the next video); committed shards are kept (and the videos done so far): "
                            "free space and rerun")
                    break
                busy[0] = True
                rec = _process_one(job, writer, work_fn, ctx)
                busy[0] = False
                report(("done", rec))
                name = writer.maybe_roll()
                if name:
                    report(("shard", name))
            except _DropVideo:
                break
            except _DiskFull as e:
                _exit_on_full_disk(str(e), report, results_q)
            if enospc:
                _exit_on_full_disk(enospc[0], report, results_q)
        busy[0] = False
        name = writer.commit()
        if name:
            report(("shard", name))
        if full:
            report(("disk_full", full))
        if stop.requested:
            report(("stopped", stop.signum))
    report(("exit", None))


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_sharded(
    jobs: list[Job],
    *,
    out_dir: Path,
    prefix: str,
    work_fn: WorkFn,
    workers: int = 0,
    shard_bytes: int = 1 << 30,
    attrs: dict | None = None,
    init_fn: Callable | None = None,
    init_args: tuple = (),
    strict: bool = False,
    retry_failed: bool = False,
    label: str = "videos",
    quiet: bool = False,
) -> RunResult:
    """Process ``jobs`` into shards under ``out_dir/shards``, resuming committed work.

    Args:
        prefix: name prefix of this run's shards (e.g. ``extract-p000of001``); only
            files with this prefix are cleaned on resume, so parts of a multi-machine
            split can share a directory.
        work_fn / init_fn: module-level functions (they are sent to worker processes).
    """
    from vssl.io.h5 import compression

    compression()  # a bad VSSL_H5_COMPRESSION is one line here, not one failed video per worker
    shard_dir = Path(out_dir) / schema.SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    clean_uncommitted(shard_dir, prefix)
    old = scan_committed(shard_dir, prefix)
    done = {}
    for r in old:
        if r["status"] == schema.OK or not retry_failed:
            done[r["id"]] = r
    remove_superseded(shard_dir, old, done)
    todo = [j for j in jobs if j.id not in done]
    wanted = {j.id for j in jobs}
    kept = [r for r in done.values() if r["id"] in wanted]
    # failed records that will be retried must not linger in the result
    result = RunResult(records=list(kept), new=0, skipped=len(kept), failed_new=0)
    if not todo:
        return result

    workers = max(1, min(workers or default_workers(), len(todo)))
    stem = f"{prefix}-{time.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2)}"
    attrs = dict(attrs or {})
    attrs.update(vssl_schema=schema.SCHEMA_VERSION)

    frames = 0
    t0 = time.perf_counter()
    procs: list = []
    if workers == 1:
        jobs_q: Any = queue_mod.SimpleQueue()
        results_q: Any = queue_mod.SimpleQueue()
    else:
        mpctx = mp.get_context("spawn")
        jobs_q = mpctx.Queue()
        results_q = mpctx.Queue()
    for j in todo:
        jobs_q.put(j)
    for _ in range(workers):
        jobs_q.put(None)

    def stats() -> str:
        return f"{frames / max(time.perf_counter() - t0, 1e-6):>7.0f} frames/s  {result.failed_new} failed"

    def handle(msg) -> bool:
        nonlocal frames
        _wid, kind, val = msg
        if kind == "frames":
            frames += val
            progress.update(progress.done, stats())
        elif kind == "done":
            result.records.append(val)
            result.new += 1
            if val["status"] != schema.OK:
                result.failed_new += 1
                if not quiet:
                    progress.console.print(f"[red]failed[/red] {val['id']}: {val.get('reason')}")  # above the bar
                if strict and result.stopped_strict is None:
                    result.stopped_strict = f"{val['id']}: {val.get('reason')}"
            progress.advance(1, stats())
        elif kind == "stopped":
            result.interrupted = True
            result.stop_signal = val
        elif kind == "disk_full":
            if result.disk_full is None:
                result.disk_full = val
                if not stopping:  # a worker stuck in HDF5 on the full disk is terminated after the grace time
                    stopping.append(time.monotonic())
                for p in procs:  # the others commit what they have and stop too
                    if p.is_alive() and p.pid:
                        try:
                            os.kill(p.pid, signal.SIGTERM)
                        except ProcessLookupError:
                            pass
        elif kind == "exit":
            return True
        return False

    stack = contextlib.ExitStack()
    stopping: list[float] = []

    def forward(signum):
        """The parent got a stop signal: each worker drops its video, commits and exits."""
        stopping.append(time.monotonic())
        result.interrupted, result.stop_signal = True, signum
        for p in procs:
            if p.is_alive() and p.pid:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    progress = Progress(label, len(todo), enabled=not quiet, transient=False, stats=True)
    with progress:
        try:
            if workers == 1:
                # In-process: simpler to debug, no start-up cost. Messages are handled as
                # they come by draining after each job through a tiny queue adapter.
                class _Q:
                    def put(self, msg):
                        handle(msg)
                        if result.stopped_strict:
                            raise _StrictStop()

                try:
                    _worker_main(0, stem, str(shard_dir), shard_bytes, attrs, work_fn, init_fn, init_args, jobs_q, _Q())
                except _StrictStop:
                    pass
            else:
                stack.enter_context(StopRequest(on_signal=forward))
                for wid in range(workers):
                    p = mpctx.Process(
                        target=_worker_main,
                        args=(wid, stem, str(shard_dir), shard_bytes, attrs, work_fn, init_fn, init_args, jobs_q, results_q),
                        daemon=True,
                    )
                    p.start()
                    procs.append(p)
                exited: set[int] = set()
                while len(exited) < workers:
                    if stopping and time.monotonic() > stopping[0] + STOP_GRACE_S:
                        raise KeyboardInterrupt  # workers that do not stop in time are terminated below
                    try:
                        msg = results_q.get(timeout=1.0)
                    except queue_mod.Empty:
                        dead = [(w, p) for w, p in enumerate(procs)
                                if w not in exited and not p.is_alive() and p.exitcode not in (0, None)]
                        if dead and (stopping or result.disk_full):  # stopped before its handler was set,
                            exited.update(w for w, _ in dead)  # or after it: nothing left to commit
                        elif dead and free_bytes(shard_dir) < max(min_free(), 1 << 20):  # HDF5 crashes on ENOSPC
                            raise DiskFullError(
                                f"no space left on device writing {shard_dir} ({mb(free_bytes(shard_dir))} free; "
                                f"a worker crashed, exit code {dead[0][1].exitcode}); committed shards are kept: "
                                "free space and rerun")
                        elif dead:
                            raise VsslError(
                                f"a worker process died (exit code {dead[0][1].exitcode}); "
                                "committed shards are kept: rerun the same command to resume"
                            )
                        continue
                    if handle(msg):
                        exited.add(msg[0])
                    if result.stopped_strict:
                        break
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            stack.close()
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
    if result.disk_full:
        raise DiskFullError(result.disk_full)
    if result.interrupted or result.stopped_strict:
        # records of uncommitted shards are not on disk: report only what is committed
        result.records = kept + [r for r in scan_committed(shard_dir, prefix) if r["id"] in wanted and r["id"] not in done]
    return result


class _StrictStop(Exception):
    pass
