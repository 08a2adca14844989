"""`vssl precompute fame|be`: per-window data of every video of an extracted cache, the run over the cache.

Every kind walks every ok video of an extracted cache in clip windows (start
``0, stride, 2 * stride, ...`` while ``start + window <= n_frames``) and writes
one HDF5 group per video into ``CACHE/<kind>/shards`` with the resumable shard
runner (:func:`vssl.io.shards.run_sharded`): parallel workers, a progress bar,
resume after a kill, videos already done are skipped (``force`` redoes them).
Format and reader: :mod:`vssl.io.precomputed`.

This module is the kind-independent part (run options, locks, resume checks,
sharding, manifests); what one kind stores and how one video is computed is in
its module, registered in :data:`KINDS`:

* **fame** (:mod:`vssl.preprocess.fame`): the FAME soft foreground score map of
  each window, uint8.
* **be** (:mod:`vssl.preprocess.be`): the Background Erasing static frame(s) of
  each window, JPEG.

A kind module has ``Options`` (a dataclass with ``KIND``, ``validate()`` and
``content()``, the stored options), ``compute_video(job, group, ctx)`` (the work
function of one video) and ``TORCH_THREADS`` (torch intra-op threads per worker,
None: leave them alone). Memory per worker is bounded by ``batch`` windows of
decoded frames, whatever the video's length.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vssl.errors import CacheError, InputError
from vssl.io import schema
from vssl.io.manifest import atomic_write_json, manifest_checksum, new_manifest, write_manifest
from vssl.io.shards import Job, RunResult, default_workers, run_sharded, scan_committed
from vssl.preprocess import be, fame

KINDS = {"fame": fame, "be": be}  # kind -> its module (Options, compute_video, TORCH_THREADS)


# ----------------------------------------------------------------------------- options


@dataclass
class RunOptions:
    """How to run (does not change what is stored)."""

    workers: int = 0  # 0 = all cores
    num_shards: int = 1
    shard_index: int = 0
    shard_size: int = 1 << 30
    retry_failed: bool = False
    batch: int = 8  # windows processed at once (bounds memory)

    def validate(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise InputError(
                f"--shard-index must be in 0..{self.num_shards - 1} for --num-shards {self.num_shards} "
                f"(got {self.shard_index})"
            )
        if self.batch < 1:
            raise InputError(f"--batch must be >= 1 (got {self.batch})")
        if self.shard_size < (1 << 20):
            raise InputError(f"--shard-size must be at least 1 MB (got {self.shard_size} bytes)")


# ----------------------------------------------------------------------------- the run


def _init_worker(state: dict, kind: str, cache_root: str, opts_dict: dict, run_dict: dict) -> None:
    from vssl.io.cache import Cache

    mod = KINDS[kind]
    if mod.TORCH_THREADS is not None:
        import torch

        torch.set_num_threads(mod.TORCH_THREADS)
    state["cache"] = Cache(cache_root)
    state["opts"] = mod.Options(**opts_dict)
    state["run"] = RunOptions(**run_dict)


@dataclass
class PrecomputeSummary:
    kind: str
    result: RunResult
    manifest_path: Path
    ok: int
    failed: int
    windows: int
    frames: int
    seconds: float
    joined: bool = True  # False: a --num-shards part whose siblings are not all done yet


def part_prefix(kind: str, run: RunOptions) -> str:
    return f"{kind}-p{run.shard_index:03d}of{run.num_shards:03d}"


def _part_manifest_name(run: RunOptions) -> str:
    return f"manifest.part{run.shard_index:03d}of{run.num_shards:03d}.json"


def _clear(sub: Path, kind: str, run: RunOptions) -> None:
    """--force: delete this run's previous output (all of it, or this part's when split)."""
    shard_dir = sub / schema.SHARD_DIR
    if run.num_shards == 1:
        if shard_dir.is_dir():
            shutil.rmtree(shard_dir)
        for m in sub.glob("manifest*.json"):
            m.unlink()
        return
    prefix = part_prefix(kind, run)
    for p in shard_dir.glob(prefix + "*") if shard_dir.is_dir() else []:
        p.unlink()
    for m in (sub / _part_manifest_name(run), sub / schema.MANIFEST):
        m.unlink(missing_ok=True)


def _committed_content(shard_dir: Path) -> dict | None:
    """The content options recorded in a committed shard (a killed run leaves no manifest)."""
    from vssl.io.h5 import load_h5py

    h5py = load_h5py()

    for side in sorted(shard_dir.glob("*.json")) if shard_dir.is_dir() else []:
        h5 = side.with_suffix(".h5")
        if h5.exists():
            try:
                with h5py.File(h5, "r") as f:
                    return json.loads(f.attrs.get("content", "null"))
            except (OSError, ValueError):
                continue
    return None


def _check_existing(sub: Path, kind: str, content: dict, current: dict[str, str]) -> None:
    """Refuse to resume output made with other options, another schema or other extracted data."""
    cmd = f"`vssl precompute {kind} ... --force`"
    olds = []
    for m in sorted(sub.glob("manifest*.json")):
        try:
            old = json.loads(m.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if old.get("kind") != kind:
            continue
        if old.get("schema_version") != schema.SCHEMA_VERSION:
            raise CacheError(
                f"{sub} was precomputed by vssl {old.get('vssl_version')} (cache schema {old.get('schema_version')}); "
                f"this vssl writes schema {schema.SCHEMA_VERSION}: rerun with --force ({cmd})"
            )
        olds.append(old.get("options", {}))
    committed = _committed_content(sub / schema.SHARD_DIR)
    if committed is not None:
        olds.append(committed)
    for prev in olds:
        diff = [k for k in content if k in prev and prev[k] != content[k]]
        if diff:
            k = diff[0]
            raise CacheError(
                f"{sub} was precomputed with {k.replace('_', '-')}={prev[k]!r}, now {content[k]!r}: "
                f"rerun with --force to redo it ({cmd})"
            )
    stale = [r["id"] for r in scan_committed(sub / schema.SHARD_DIR)
             if r.get("status") == schema.OK and r["id"] in current and r.get("extract_checksum") != current[r["id"]]]
    if stale:
        raise CacheError(
            f"{len(stale)} videos were extracted again since they were precomputed (e.g. '{stale[0]}'): "
            f"rerun with --force ({cmd})"
        )


def _join_parts(sub: Path, kind: str, num_shards: int) -> Path | None:
    """Write ``manifest.json`` from the part manifests once all ``num_shards`` parts are there."""
    parts = {}
    for i in range(num_shards):
        p = sub / f"manifest.part{i:03d}of{num_shards:03d}.json"
        if not p.is_file():
            return None
        parts[i] = json.loads(p.read_text("utf-8"))
    first = parts[0]
    records = {r["id"]: r for m in parts.values() for r in m["videos"]}
    opts = {k: v for k, v in first["options"].items() if k not in ("num_shards", "shard_index")}
    extra = {k: first[k] for k in ("cache", "extract_manifest_checksum") if k in first}
    m = new_manifest(kind, {**opts, "num_shards": num_shards}, list(records.values()), **extra,
                     joined_from=[f"part {i} of {num_shards}" for i in range(num_shards)])
    write_manifest(sub, m)
    return sub / schema.MANIFEST


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def precompute(cache_root: str | Path, opts: fame.FameOptions | be.BeOptions, run: RunOptions | None = None, *,
               force: bool = False, quiet: bool = False) -> PrecomputeSummary:
    """Precompute ``opts.KIND`` ("fame" or "be") for every ok video of the cache.

    Raises:
        CacheError: no cache / another schema / no frames stored / options differ from
            an earlier run (use ``force``) / videos re-extracted since / another process
            writes the cache or this precompute (names it; exit 3).
        InputError: a bad option.
    """
    from vssl.io.cache import Cache
    from vssl.io.lock import dir_lock, writer_lock

    run = run or RunOptions()
    opts.validate()
    run.validate()
    cache_root = Path(cache_root)
    if not cache_root.is_dir():
        Cache(cache_root)  # raises CacheError: missing
    what = f"vssl precompute {opts.KIND}"
    # the cache is read (no extract may write it meanwhile), CACHE/KIND written (one writer, or one per part)
    with dir_lock(cache_root, what, shared=True), \
            writer_lock(cache_root / opts.KIND, what, part=(run.shard_index, run.num_shards), whole=force):
        return _precompute_locked(cache_root, opts, run, force=force, quiet=quiet)


def _precompute_locked(cache_root: Path, opts: fame.FameOptions | be.BeOptions, run: RunOptions, *, force: bool,
                       quiet: bool) -> PrecomputeSummary:
    from vssl.io.cache import Cache

    kind, mod = opts.KIND, KINDS[opts.KIND]
    t0 = time.perf_counter()
    cache = Cache(cache_root)  # raises CacheError: missing, unfinished, other schema
    if cache.options.get("frames") is False or not any(v.record.get("n_stored_frames") for v in cache.videos):
        if cache.videos:
            raise CacheError(f"cache {cache_root} has no frames (extracted with --no-frames): {kind} needs them")
    sub = cache_root / kind
    content = opts.content()
    if force:
        _clear(sub, kind, run)
    current = {v.id: v.record.get("checksum") for v in cache.videos}
    _check_existing(sub, kind, content, current)
    sub.mkdir(parents=True, exist_ok=True)
    frame_stride = int(cache.options.get("frame_stride", 1) or 1)
    jobs = []
    for v in cache.videos:
        if run.num_shards > 1 and schema.shard_of(v.id, run.num_shards) != run.shard_index:
            continue
        r = v.record
        jobs.append(Job(v.id, {
            "n_frames": v.n_frames, "stored_height": v.stored_height, "stored_width": v.stored_width,
            "height": v.height, "width": v.width, "mv_hw": schema.mv_hw(r), "checksum": r.get("checksum"),
            "frame_stride": frame_stride,
            "n_stored_frames": int(r.get("n_stored_frames", v.n_frames)),
        }))
    cache.close()
    workers = max(1, min(run.workers or default_workers(), max(1, len(jobs))))
    # in-process (one worker), the kind's torch threads are set here: restore them after
    torch_threads = _torch_threads() if mod.TORCH_THREADS is not None and workers == 1 else None
    try:
        res = run_sharded(
            jobs,
            out_dir=sub,
            prefix=part_prefix(kind, run),
            work_fn=mod.compute_video,
            workers=workers,
            shard_bytes=run.shard_size,
            attrs={"kind": kind, "content": json.dumps(content)},
            init_fn=_init_worker,
            init_args=(kind, str(cache_root), asdict(opts), asdict(run)),
            retry_failed=run.retry_failed,
            label=f"precompute {kind}",
            quiet=quiet,
        )
    finally:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
    extra = {"cache": str(cache_root.resolve()), "extract_manifest_checksum": manifest_checksum(cache_root)}
    options = {**content, "num_shards": run.num_shards, "shard_index": run.shard_index}
    mpath, joined = sub / schema.MANIFEST, True
    if not res.interrupted:
        manifest = new_manifest(kind, options, res.records, **extra,
                                part=None if run.num_shards == 1 else [run.shard_index, run.num_shards])
        if run.num_shards == 1:
            write_manifest(sub, manifest)
        else:
            mpath = sub / _part_manifest_name(run)
            atomic_write_json(mpath, manifest)
            full = _join_parts(sub, kind, run.num_shards)
            joined = full is not None
            mpath = full or mpath
    ok = [r for r in res.records if r["status"] == schema.OK]
    return PrecomputeSummary(
        kind=kind, result=res, manifest_path=mpath, ok=len(ok), failed=len(res.records) - len(ok),
        windows=sum(int(r.get("n_windows", 0)) for r in ok), frames=sum(int(r.get("n_frames", 0)) for r in ok),
        seconds=time.perf_counter() - t0, joined=joined,
    )


__all__ = ["KINDS", "PrecomputeSummary", "RunOptions", "precompute"]
