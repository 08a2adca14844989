"""`vssl precompute fame|be`: per-window FAME score maps and BE static frames of a cache.

Both walk every ok video of an extracted cache in clip windows (start ``0,
stride, 2 * stride, ...`` while ``start + window <= n_frames``) and write one
HDF5 group per video into ``CACHE/<kind>/shards`` with the resumable shard
runner (:func:`vssl.io.shards.run_sharded`): parallel workers, a progress bar,
resume after a kill, videos already done are skipped (``force`` redoes them).
Format and reader: :mod:`vssl.io.precomputed`.

* **fame** (FAME, Ding et al. CVPR 2022, https://arxiv.org/abs/2109.15130):
  the soft foreground score of each window (:func:`vssl.ops.fame.fame_score`
  on the window's cached frames at the cached resolution), stored as uint8 at
  that resolution times ``scale``. The motion map comes from frame differences
  (``motion_source="frames"``, the paper) or from the cached motion vectors
  (``"mv"``: mean length of the dense vector field over the window). Masks are
  not stored: training crops and flips the score map with its clip and keeps
  the top ``beta`` fraction (RECIPES, FAME: "store soft score maps per clip
  window and crop them with the clip, threshold at beta at training time").
* **be** (Background Erasing, Wang et al. 2021): the "static frame" of each
  window: ``k`` random frames of the window (``kind="random"``, the paper's
  choice, drawn per video from a seeded generator) or the temporal median of
  the window (``kind="median"``, a cleaner background).

Memory per worker is bounded by ``batch`` windows of decoded frames, whatever
the video's length.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vssl.errors import CacheError, InputError, VideoError
from vssl.io import schema
from vssl.io.h5 import compressed
from vssl.io.jpegstore import JpegWriter
from vssl.io.manifest import atomic_write_json, manifest_checksum, new_manifest, write_manifest
from vssl.io.precomputed import SCORE_SCALE, data_checksum, scaled_size, window_starts
from vssl.io.shards import Job, RunResult, default_workers, run_sharded, scan_committed

STATIC_JPEG_CHUNK = 1 << 16  # HDF5 chunk of static_jpeg, bytes


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


@dataclass
class FameOptions:
    """What `vssl precompute fame` stores (:meth:`content` is recorded in the manifest; device is not)."""

    window: int = 16
    stride: int = 8
    motion_source: str = "frames"  # frames (the paper) | mv (cached motion vectors)
    scale: float = 1.0  # stored map size = cached frame size x scale
    colour_space: str = "wheel"  # see vssl.ops.fame.colour_bins
    device: str = "cpu"  # not stored content; cpu and cuda agree up to float rounding

    KIND = "fame"

    def validate(self) -> None:
        from vssl.ops.fame import COLOUR_SPACES

        _check_windows(self.window, self.stride, minimum=2)
        if self.motion_source not in ("frames", "mv"):
            raise InputError(f"--motion-source must be frames or mv, not '{self.motion_source}'")
        if not 0.0 < self.scale <= 1.0:
            raise InputError(f"--scale must be in (0, 1] (got {self.scale})")
        if self.colour_space not in COLOUR_SPACES:
            raise InputError(f"--colour-space must be one of {', '.join(COLOUR_SPACES)}, not '{self.colour_space}'")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"--device must be cpu or cuda, not '{self.device}'")
        if self.device != "cpu":
            import torch

            if not torch.cuda.is_available():
                raise InputError("--device cuda: no CUDA device is available here (use --device cpu)")

    def content(self) -> dict:
        return {k: getattr(self, k) for k in ("window", "stride", "motion_source", "scale", "colour_space")}


@dataclass
class BeOptions:
    """What `vssl precompute be` stores."""

    window: int = 16
    stride: int = 8
    k: int = 1  # static frames per window (kind random)
    kind: str = "random"  # random (the paper) | median
    seed: int = 0
    jpeg_quality: int = 90  # for kind median (random copies the cached JPEG bytes)

    KIND = "be"

    def validate(self) -> None:
        _check_windows(self.window, self.stride, minimum=1)
        if self.kind not in ("random", "median"):
            raise InputError(f"--kind must be random or median, not '{self.kind}'")
        if self.kind == "random" and not 1 <= self.k <= self.window:
            raise InputError(f"--k must be in 1..--window {self.window} (got {self.k})")
        if self.kind == "median" and self.k != 1:
            raise InputError("--kind median stores one frame per window: use --k 1")
        if not 1 <= self.jpeg_quality <= 100:
            raise InputError(f"--jpeg-quality must be in 1..100 (got {self.jpeg_quality})")

    def content(self) -> dict:
        return {k: getattr(self, k) for k in ("window", "stride", "k", "kind", "seed", "jpeg_quality")}


def _check_windows(window: int, stride: int, minimum: int) -> None:
    if window < minimum:
        raise InputError(f"--window must be >= {minimum} (got {window})")
    if stride < 1:
        raise InputError(f"--stride must be >= 1 (got {stride})")


# ----------------------------------------------------------------------------- reading windows


def _batches(n: int, size: int):
    for i in range(0, n, size):
        yield i, min(i + size, n)


def _read_frames(cache, vid: str, ts: np.ndarray) -> dict[int, np.ndarray]:
    """Decoded frames ``{t: uint8 (H, W, 3)}`` of the distinct frame indices ``ts``."""
    from vssl.io.cache import decode_jpeg

    uniq = np.unique(ts)
    return {int(t): decode_jpeg(b) for t, b in zip(uniq, cache.read_frames_jpeg(vid, uniq))}


def _window_clips(frames: dict[int, np.ndarray], starts: np.ndarray, window: int, device):
    """Clips ``(B, 3, window, H, W)`` float in [0, 1] of the windows ``starts`` (read-only views).

    Each distinct frame is moved and converted once; overlapping windows of a run of
    consecutive frames are strided views of it (no copy), otherwise they are gathered.
    """
    import torch

    ts = sorted(frames)
    span = torch.from_numpy(np.stack([frames[t] for t in ts])).to(device)  # (F, H, W, 3) uint8
    # (3, F, H, W) contiguous: fame_score runs about 1.5x faster on it than on channels-last views
    span = span.permute(3, 0, 1, 2).float().div_(255.0).contiguous()
    c, f, h, w = span.shape
    offsets = [int(s) - ts[0] for s in starts]
    if ts == list(range(ts[0], ts[0] + f)) and len(set(np.diff(offsets))) <= 1:
        step = offsets[1] - offsets[0] if len(offsets) > 1 else 0
        return span.as_strided((len(offsets), c, window, h, w), (step * h * w, f * h * w, h * w, w, 1))
    pos = {t: i for i, t in enumerate(ts)}
    idx = torch.tensor([[pos[int(s) + j] for j in range(window)] for s in starts], device=device)
    return span[:, idx].permute(1, 0, 2, 3, 4)


def mv_motion_map(mv: np.ndarray, valid: np.ndarray, source_hw: tuple[int, int], out_hw: tuple[int, int], device="cpu"):
    """Motion map ``(B, H, W)`` (pixels per frame) from cached vectors of ``B`` windows.

    Args:
        mv: int16 ``(B, T, Hg, Wg, 2)`` quarter-pel vectors (the cache's ``mv``).
        valid: ``(B, T)`` the cache's ``mv_valid``.
        source_hw: the frame size the 4x4 grid refers to (:func:`vssl.io.schema.mv_hw`).
        out_hw: cached frame size ``(H, W)`` to map to.

    The grid covers ``4 * Hg x 4 * Wg`` source pixels (a little more than the frame
    when a side is not a multiple of 4): it is upsampled to that extent at the
    cached scale and cropped to ``out_hw``, so cells stay aligned with pixels.
    """
    import torch

    from vssl.ops.fame import motion_map_from_mv

    hs, ws = source_hw
    h, w = out_hw
    gh, gw = mv.shape[2:4]
    full = (max(h, int(round(schema.MV_BLOCK * gh * h / hs))), max(w, int(round(schema.MV_BLOCK * gw * w / ws))))
    t = torch.from_numpy(np.ascontiguousarray(mv)).to(device).permute(0, 4, 1, 2, 3).float() / schema.MV_SCALE
    m = motion_map_from_mv(t, torch.from_numpy(np.asarray(valid)).to(device), out_hw=full)
    return m[:, :h, :w]


def fame_scores(x, motion=None, *, scale: float = 1.0, colour_space: str = "wheel"):
    """FAME scores of clips ``x`` ``(B, 3, T, H, W)`` as stored: uint8-ready float ``(B, Hs, Ws)`` in [0, 1].

    ``scale < 1`` resizes the score (bilinear with antialiasing) after it is computed
    at full resolution, so the stored map is a smaller copy of the same score.
    """
    import torch.nn.functional as F

    from vssl.ops.fame import fame_score

    s = fame_score(x, motion, colour_space=colour_space)
    if scale != 1.0:
        hs, ws = scaled_size(s.shape[1], s.shape[2], scale)
        s = F.interpolate(s[:, None], size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)[:, 0]
    return s.clamp(0.0, 1.0)


def quantise_score(s) -> np.ndarray:
    """float score in [0, 1] (torch) -> uint8 numpy ``round(s * 255)``."""
    import torch

    return (s * SCORE_SCALE).round().to(torch.uint8).cpu().numpy()


# ----------------------------------------------------------------------------- work functions


def _too_short(n: int, window: int) -> VideoError:
    return VideoError(f"too short for a window: {n} frames < --window {window}")


def fame_one(job: Job, group, ctx) -> dict:
    """Work function: FAME score maps of every window of one video into ``group``."""
    import torch

    cache, opts, run = ctx.state["cache"], ctx.state["opts"], ctx.state["run"]
    p = job.payload
    n, h, w = p["n_frames"], p["stored_height"], p["stored_width"]
    starts = window_starts(n, opts.window, opts.stride)
    if len(starts) == 0:
        raise _too_short(n, opts.window)
    hs, ws = scaled_size(h, w, opts.scale)
    device = torch.device(opts.device)
    ds = group.create_dataset("score", shape=(len(starts), hs, ws), dtype=np.uint8, chunks=(1, hs, ws),
                              **compressed())
    group.create_dataset("starts", data=starts)
    done_until = 0
    with torch.inference_mode():
        for i0, i1 in _batches(len(starts), run.batch):
            s = starts[i0:i1]
            ts = (s[:, None] + np.arange(opts.window)[None]).reshape(-1)
            frames = _read_frames(cache, job.id, ts)
            x = _window_clips(frames, s, opts.window, device)
            motion = None
            if opts.motion_source == "mv":
                lo, hi = int(s[0]) + 1, int(s[-1]) + opts.window
                mv, valid = cache.read_mv(job.id, lo, hi)
                idx = (s[:, None] - lo + 1 + np.arange(opts.window - 1)[None])  # frames s+1 .. s+window-1
                motion = mv_motion_map(mv[idx], valid[idx], tuple(p["mv_hw"]), (h, w), device)
            ds[i0:i1] = quantise_score(fame_scores(x, motion, scale=opts.scale, colour_space=opts.colour_space))
            end = int(s[-1]) + opts.window
            ctx.progress(end - done_until)
            done_until = end
    group.attrs.update(window=opts.window, stride=opts.stride, scale=opts.scale, motion_source=opts.motion_source)
    return {
        "n_frames": n, "n_windows": len(starts), "window": opts.window, "stride": opts.stride,
        "height": hs, "width": ws, "checksum": data_checksum(group, "fame"), "extract_checksum": p["checksum"],
    }


def video_rng(video_id: str, seed: int) -> np.random.Generator:
    """The generator of one video's BE frame choice: depends on the seed and the id only."""
    h = int.from_bytes(hashlib.blake2b(video_id.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, h])


def be_one(job: Job, group, ctx) -> dict:
    """Work function: the static frame(s) of every window of one video into ``group``."""
    import cv2

    cache, opts, run = ctx.state["cache"], ctx.state["opts"], ctx.state["run"]
    p = job.payload
    n = p["n_frames"]
    starts = window_starts(n, opts.window, opts.stride)
    if len(starts) == 0:
        raise _too_short(n, opts.window)
    k = opts.k
    fstride = max(1, int(p.get("frame_stride", 1)))
    rng = video_rng(job.id, opts.seed)
    jpegs = JpegWriter(group, "static_jpeg", "static_offsets", chunk=STATIC_JPEG_CHUNK)
    static_t = np.full((len(starts), k), -1, np.int32)
    enc = [int(cv2.IMWRITE_JPEG_QUALITY), opts.jpeg_quality]
    done_until = 0
    for i0, i1 in _batches(len(starts), run.batch):
        s = starts[i0:i1]
        if opts.kind == "random":
            pick = np.stack([np.sort(rng.choice(opts.window, size=k, replace=False)) for _ in s])
            ts = (s[:, None] + pick).reshape(-1)
            # the stored frame each t reads (frames extracted every frame_stride-th)
            snapped = np.clip(np.rint(ts / fstride).astype(np.int64), 0, p["n_stored_frames"] - 1) * fstride
            static_t[i0:i1] = snapped.reshape(len(s), k)
            for b in cache.read_frames_jpeg(job.id, ts):  # the cached bytes, not re-encoded
                jpegs.add(b.tobytes())
        else:
            ts = (s[:, None] + np.arange(opts.window)[None]).reshape(-1)
            frames = _read_frames(cache, job.id, ts)
            for st in s:
                win = np.stack([frames[int(st) + j] for j in range(opts.window)])
                med = np.median(win, axis=0).round().astype(np.uint8)
                ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(med[..., ::-1]), enc)
                if not ok:  # pragma: no cover - OpenCV failure
                    raise VideoError("JPEG encoding failed")
                jpegs.add(buf.tobytes())
        end = int(s[-1]) + opts.window
        ctx.progress(end - done_until)
        done_until = end
    jpegs.close()
    group.create_dataset("starts", data=starts)
    group.create_dataset("static_t", data=static_t)
    group.attrs.update(window=opts.window, stride=opts.stride, k=k, kind=opts.kind)
    return {
        "n_frames": n, "n_windows": len(starts), "window": opts.window, "stride": opts.stride, "k": k,
        "height": p["stored_height"], "width": p["stored_width"],
        "checksum": data_checksum(group, "be"), "extract_checksum": p["checksum"],
    }


def _init_worker(state: dict, kind: str, cache_root: str, opts_dict: dict, run_dict: dict) -> None:
    from vssl.io.cache import Cache

    if kind == "fame":
        import torch

        # One intra-op thread per worker: the maps are small, so torch's threads gain little,
        # and on a busy machine they spin against each other (measured on 2 loaded cores:
        # 160 windows in 1.3 s with one thread, 7.4 s with two). More cores: more workers.
        torch.set_num_threads(1)
    state["cache"] = Cache(cache_root)
    state["opts"] = (FameOptions if kind == "fame" else BeOptions)(**opts_dict)
    state["run"] = RunOptions(**run_dict)


# ----------------------------------------------------------------------------- the run


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


def precompute(cache_root: str | Path, opts: FameOptions | BeOptions, run: RunOptions | None = None, *,
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


def _precompute_locked(cache_root: Path, opts: FameOptions | BeOptions, run: RunOptions, *, force: bool,
                       quiet: bool) -> PrecomputeSummary:
    from vssl.io.cache import Cache

    kind = opts.KIND
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
    torch_threads = _torch_threads() if kind == "fame" and workers == 1 else None  # in-process: restore after
    try:
        res = run_sharded(
            jobs,
            out_dir=sub,
            prefix=part_prefix(kind, run),
            work_fn=fame_one if kind == "fame" else be_one,
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


__all__ = [
    "BeOptions", "FameOptions", "PrecomputeSummary", "RunOptions", "be_one", "fame_one", "fame_scores",
    "mv_motion_map", "precompute", "quantise_score", "video_rng",
]
