"""`vssl extract`: keyframes, motion vectors, frame types and frames into HDF5 shards.

One pass of the decoder per video (two when it must be re-encoded first): every
frame's type and pts, every keyframe as JPEG, the motion vectors of every frame
rasterised to the 4x4 grid, and (``frames=True``) every k-th frame as JPEG.
Memory is bounded per worker: frames are streamed and written in small blocks.
Layout and units: :mod:`vssl.io.schema`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from vssl.errors import CacheError, InputError, VideoError
from vssl.io import schema
from vssl.io.checksum import combine_checksums, file_checksum, new_hasher
from vssl.io.h5 import compressed
from vssl.io.jpegstore import JpegWriter
from vssl.io.manifest import atomic_write_json, new_manifest
from vssl.io.mv.raster import rasterise_int16, rotate_field
from vssl.io.shards import Job, RunResult, run_sharded
from vssl.io.video.decode_mvx import iter_frames_mvextractor
from vssl.io.video.decode_pyav import iter_frames_pyav
from vssl.io.video.encode import REENCODE_PRESETS, iter_frames_reencode, reencode_h264, reencode_size
from vssl.io.video.frames import DecodedFrame, DecodeStats, rotate_image, stored_size
from vssl.io.video.probe import Probe, probe

MV_BLOCK_BYTES = 4 << 20  # motion vectors buffered before a write (rasterised and written as one block)
MV_BLOCK_FRAMES_MAX = 256


def mv_chunk_frames(grid_hw: tuple[int, int]) -> int:
    """Frames per HDF5 chunk of ``mv``: up to 4 while a chunk stays under 256 kB.

    HDF5 spends ~15 us per chunk written; 4-frame chunks write ~10 % faster than 1-frame
    ones at 320x240, and a 16-frame clip then reads at most 20 frames' worth.
    """
    per_frame = grid_hw[0] * grid_hw[1] * 4
    return int(min(4, max(1, (256 << 10) // per_frame)))


def mv_block_frames(grid_hw: tuple[int, int]) -> int:
    """Frames per rasterise/write block: ~4 MB of int16 field, 8..256 frames (bounded memory)."""
    per_frame = grid_hw[0] * grid_hw[1] * 4
    return int(min(MV_BLOCK_FRAMES_MAX, max(8, MV_BLOCK_BYTES // per_frame)))


JPEG_CHUNK = 1 << 18  # HDF5 chunk of keyframe_jpeg / frame_jpeg, bytes

# Options that change what is stored: a cache made with other values is not resumed.
CONTENT_OPTIONS = ("size", "frames", "frame_stride", "jpeg_quality", "reencode", "max_gop", "min_frames",
                   "mv_short_side", "reencode_preset")


@dataclass
class ExtractOptions:
    size: int = 128  # short side of stored JPEGs (never upscaled)
    frames: bool = True  # store every frame_stride-th frame as JPEG (RGB methods)
    frame_stride: int = 1
    jpeg_quality: int = 90
    reencode: str = "auto"  # auto | always | never
    max_gop: int = 12
    # re-encode as one streaming pass (decode -> scale -> encode -> decode in memory) or, as
    # before, through a temporary file decoded again ("file"; same frames, slower)
    reencode_pass: str = "stream"  # stream | file
    # short side of a re-encoded stream, and so of its motion vectors: None = --size (the
    # frames the networks see), 0 = the source resolution (before: always)
    mv_short_side: int | None = None
    # x264 settings of a re-encode (vssl.io.video.encode.REENCODE_PRESETS): fast (diamond search, subme 1,
    # CAVLC, source deblocking skipped when scaling down by 2 or more) or veryfast (x264's preset)
    reencode_preset: str = "fast"
    min_frames: int = 16  # shorter videos are recorded as failed (shorter than one clip)
    shard_size: int = 1 << 30  # bytes
    workers: int = 0  # 0 = all cores
    threads: int = 1  # decoder threads per worker (PyAV path)
    # auto = PyAV: pinned to one core it decodes faster than mvextractor (3 480 vs 3 160
    # frames/s on the 320x240 bench); mvextractor is ahead only with decoder threads on other cores
    decoder: str = "auto"  # auto | pyav | mvextractor
    num_shards: int = 1
    shard_index: int = 0
    strict: bool = False
    retry_failed: bool = False
    checksum_source: bool = True

    def validate(self) -> None:
        if self.reencode not in ("auto", "always", "never"):
            raise InputError(f"--reencode must be auto, always or never, not '{self.reencode}'")
        if self.mv_short_side is not None and self.mv_short_side != 0 and self.mv_short_side < self.size:
            raise InputError(f"--mv-short-side must be 0 (source resolution) or at least --size {self.size} "
                             f"(the stored frames come from the re-encoded stream), got {self.mv_short_side}")
        if self.reencode_preset not in REENCODE_PRESETS:
            raise InputError(f"--reencode-preset must be {' or '.join(REENCODE_PRESETS)}, not '{self.reencode_preset}'")
        if self.reencode_pass not in ("stream", "file"):
            raise InputError(f"--reencode-pass must be stream or file, not '{self.reencode_pass}'")
        if self.size < 16:
            raise InputError(f"--size must be >= 16 (got {self.size})")
        if self.frame_stride < 1:
            raise InputError(f"--frame-stride must be >= 1 (got {self.frame_stride})")
        if not 1 <= self.jpeg_quality <= 100:
            raise InputError(f"--jpeg-quality must be in 1..100 (got {self.jpeg_quality})")
        if self.max_gop < 1:
            raise InputError(f"--max-gop must be >= 1 (got {self.max_gop})")
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise InputError(
                f"--shard-index must be in 0..{self.num_shards - 1} for --num-shards {self.num_shards} "
                f"(got {self.shard_index})"
            )
        if self.decoder not in ("auto", "mvextractor", "pyav"):
            raise InputError(f"--decoder must be auto, mvextractor or pyav, not '{self.decoder}'")
        if self.decoder == "mvextractor" and not _have_mvx():
            raise InputError("--decoder mvextractor: the mvextractor package is not installed "
                             "(pip install motion-vector-extractor), or use --decoder pyav")
        if self.shard_size < (1 << 20):
            raise InputError(f"--shard-size must be at least 1 MB (got {self.shard_size} bytes)")

    def content(self) -> dict:
        return {k: getattr(self, k) for k in CONTENT_OPTIONS}


# ----------------------------------------------------------------------------- writing


class _MvStream:
    def __init__(self, group, grid_hw: tuple[int, int], hasher):
        gh, gw = grid_hw
        self.ds = group.create_dataset(
            "mv", shape=(0, gh, gw, 2), maxshape=(None, gh, gw, 2), dtype=np.int16,
            chunks=(mv_chunk_frames(grid_hw), gh, gw, 2), **compressed(),
        )
        self.block_frames = mv_block_frames(grid_hw)
        self.parts: list[np.ndarray] = []  # (k, gh, gw, 2) blocks waiting to be written
        self.n = 0  # frames in `parts`
        self.hasher = hasher

    def add(self, row: np.ndarray) -> None:
        self.add_block(row[None])

    def add_block(self, block: np.ndarray) -> None:
        """Append consecutive frames (k, gh, gw, 2); written once ``block_frames`` are buffered."""
        self.parts.append(block)
        self.n += len(block)
        if self.n >= self.block_frames:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            block = np.ascontiguousarray(self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts))
            n0 = self.ds.shape[0]
            self.ds.resize((n0 + len(block),) + self.ds.shape[1:])
            self.ds[n0:] = block
            self.hasher.update(block)  # the buffer itself: no copy
            self.parts, self.n = [], 0



# ----------------------------------------------------------------------------- one video


@dataclass
class _Decoded:
    n: int = 0
    frame_types: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)
    decode_errors: int = 0
    corrupt_frames: int = 0
    x264: dict = field(default_factory=dict)
    decoder: str = ""


def _decode_into(src: str, group, pr: Probe, opts: ExtractOptions, ctx, hashers,
                 stream_size: tuple[int, int] | None = None) -> _Decoded:
    """Decode ``src`` once, writing keyframes, frames and motion vectors into ``group``.

    ``stream_size``: decode the streaming re-encode of ``src`` at that (w, h) instead
    (:func:`vssl.io.video.encode.iter_frames_reencode`); ``pr`` then describes the re-encoded stream."""
    import cv2

    d = _Decoded(x264=pr.x264)
    rot = pr.rotation
    W, H = pr.width, pr.height
    sw, sh = stored_size(W, H, opts.size)  # coded orientation
    grid = (-(-H // schema.MV_BLOCK), -(-W // schema.MV_BLOCK))
    grid_rot = grid if rot in (0, 180) else grid[::-1]
    mvs = _MvStream(group, grid_rot, hashers["mv"])
    keys = JpegWriter(group, "keyframe_jpeg", "keyframe_offsets", hashers["keyframe_jpeg"], chunk=JPEG_CHUNK)
    frames = (JpegWriter(group, "frame_jpeg", "frame_offsets", hashers["frame_jpeg"], chunk=JPEG_CHUNK)
              if opts.frames else None)
    frame_index: list[int] = []
    enc = [int(cv2.IMWRITE_JPEG_QUALITY), opts.jpeg_quality]
    valid: list[int] = []
    # A motion row can be computed once the distance to both anchors is known: B-frames
    # wait in `pending_b` for the next I/P frame in display order. Resolved rows are
    # rasterised in batches (`todo`) and written in display order.
    pending_b: list[tuple[int, np.ndarray | None, int]] = []
    todo: list[tuple[int, np.ndarray | None, int, int]] = []
    ready: dict[int, np.ndarray] = {}
    next_row = 0
    last_anchor = -1

    def emit(final: bool = False):
        nonlocal next_row
        if todo and (final or len(todo) >= mvs.block_frames):
            todo.sort(key=lambda x: x[0])  # display order (rows do not depend on batch order)
            rows = rasterise_int16([(a, p, f) for _, a, p, f in todo], grid)
            t0, t1 = todo[0][0], todo[-1][0]
            if not ready and t0 == next_row and t1 - t0 + 1 == len(todo):
                # the usual case: the batch is the next run of rows, written as one block
                mvs.add_block(np.stack([rotate_field(r, rot) for r in rows]) if rot else rows)
                next_row = t1 + 1
            else:
                for (t, *_), row in zip(todo, rows):
                    ready[t] = row
            todo.clear()
        while next_row in ready:
            row = ready.pop(next_row)
            mvs.add(rotate_field(row, rot) if rot else row)
            next_row += 1

    def jpeg(fr: DecodedFrame) -> bytes:
        if fr.image is None:
            raise VideoError(f"decoder gave no image for frame {d.n}")
        img = rotate_image(fr.image(sw, sh), rot)
        ok, buf = cv2.imencode(".jpg", img, enc)
        if not ok:  # pragma: no cover - OpenCV failure
            raise VideoError("JPEG encoding failed")
        return buf.tobytes()

    def want_image(t: int, code: int) -> bool:
        return code == 0 or (frames is not None and t % opts.frame_stride == 0)

    stats = DecodeStats()
    if stream_size is not None:
        handle, pr.handle = pr.handle, None  # the generator closes it
        source = iter_frames_reencode(src, stats, gop=opts.max_gop, size=stream_size, threads=opts.threads,
                                           handle=handle, fps=pr.fps, preset=opts.reencode_preset)
    elif opts.decoder == "mvextractor":  # auto = PyAV: see ExtractOptions.decoder
        pr.close_handle()
        source = iter_frames_mvextractor(src, stats, want_image)
    else:
        handle, pr.handle = pr.handle, None  # the generator closes it
        source = iter_frames_pyav(src, stats, want_image, opts.threads, handle=handle)
    for fr in source:
        t = d.n
        code = fr.code
        d.corrupt_frames += fr.corrupt
        d.frame_types.append(code)
        if code == 0:
            d.keyframes.append(t)
            keys.add(jpeg(fr))
        if frames is not None and t % opts.frame_stride == 0:
            frame_index.append(t)
            frames.add(jpeg(fr))
        arr = fr.mvs
        valid.append(0 if arr is None or code == 0 else 1)
        past = t - last_anchor if last_anchor >= 0 else 1
        if code == 2:  # B: wait for the next anchor
            pending_b.append((t, arr, past))
        else:
            todo.append((t, arr if code != 0 else None, past, 1))
            todo.extend((tb, a, p, t - tb) for tb, a, p in pending_b)
            pending_b.clear()
            last_anchor = t
        emit()
        d.n += 1
        if d.n % 64 == 0:
            ctx.progress(64)
    todo.extend((tb, a, p, 1) for tb, a, p in pending_b)  # stream ended before the next anchor: use 1
    emit(final=True)
    ctx.progress(d.n % 64)
    d.decode_errors = stats.decode_errors
    d.decoder = stats.decoder
    mvs.flush()
    keys.close()
    if frames is not None:
        frames.close()
        group.create_dataset("frame_index", data=np.asarray(frame_index, np.int32))
    v = np.asarray(valid, np.uint8)
    group.create_dataset("mv_valid", data=v)
    hashers["mv_valid"].update(v.tobytes())
    group.attrs["grid_height"], group.attrs["grid_width"] = grid_rot
    group.attrs["time_base"] = pr.time_base
    d.pts = list(pr.pts[: d.n]) + list(range(len(pr.pts), d.n))
    return d


_MVX: list[bool] = []


def _have_mvx() -> bool:
    if not _MVX:
        try:
            import mvextractor.videocap  # noqa: F401

            _MVX.append(True)
        except ImportError:
            _MVX.append(False)
    return _MVX[0]


def extract_one(job: Job, group, ctx) -> dict:
    """Work function of the shard runner: one video into ``group``; returns its manifest record."""
    opts: ExtractOptions = ctx.state["opts"]
    src = job.payload["path"]
    pr = probe(src, keep_open=opts.decoder != "mvextractor")  # PyAV decodes from the same handle
    try:
        return _extract_probed(src, pr, group, ctx, opts)
    finally:
        pr.close_handle()


def _extract_probed(src: str, pr: Probe, group, ctx, opts: ExtractOptions) -> dict:
    reason = None
    if opts.reencode == "always":
        reason = "--reencode always"
    elif opts.reencode == "auto":
        if pr.codec != "h264":
            reason = f"codec {pr.codec} is not H.264"
        elif pr.max_gop > opts.max_gop:
            reason = f"GOP {pr.max_gop} > --max-gop {opts.max_gop}"
    tmpdir = None
    decode_src = src
    stream_size = None
    mv_short = opts.size if opts.mv_short_side is None else (opts.mv_short_side or None)
    source_wh = reencode_size(pr.width, pr.height, None) if reason else (pr.width, pr.height)
    if reason and opts.reencode_pass == "stream":
        stream_size = reencode_size(pr.width, pr.height, mv_short)
        tb = str(1 / Fraction(pr.fps or 25).limit_denominator(100000))  # pts = frame index
        src_pr, pr = pr, dataclasses.replace(pr, codec="h264", width=stream_size[0], height=stream_size[1], pts=[],
                                             x264={"ref": "1", "bframes": "0"}, time_base=tb, has_bframes=False)
        src_pr.handle = None  # moved to the re-encoding generator, which closes it
    elif reason:
        tmpdir = tempfile.mkdtemp(prefix="vssl-reenc-")
        decode_src = os.path.join(tmpdir, "v.mp4")
        pr.close_handle()
        reencode_h264(src, decode_src, opts.max_gop, opts.threads, mv_short, opts.reencode_preset)
        rotation = pr.rotation
        pr = probe(decode_src)
        pr.rotation = rotation  # the re-encoded file has no display matrix: keep the source's
    hashers = {k: new_hasher() for k in ("mv", "mv_valid", "keyframe_jpeg", "frame_jpeg", "frame_types")}
    try:
        d = _decode_into(decode_src, group, pr, opts, ctx, hashers, stream_size=stream_size)
    finally:
        if tmpdir:
            for p in Path(tmpdir).glob("*"):
                p.unlink(missing_ok=True)
            os.rmdir(tmpdir)
    if d.n == 0:
        raise VideoError(f"no decodable frames ({d.decode_errors} packets failed)")
    if d.n < opts.min_frames:
        raise VideoError(f"too short: {d.n} frames < --min-frames {opts.min_frames}")
    ft = np.asarray(d.frame_types, np.uint8)
    group.create_dataset("frame_types", data=ft)
    hashers["frame_types"].update(ft.tobytes())
    group.create_dataset("pts", data=np.asarray(d.pts, np.int64))
    group.create_dataset("keyframes", data=np.asarray(d.keyframes, np.int32))
    rot = pr.rotation
    width, height = source_wh if rot in (0, 180) else source_wh[::-1]  # the source's (even if re-encoded)
    mv_width, mv_height = (pr.width, pr.height) if rot in (0, 180) else (pr.height, pr.width)  # the vectors'
    sw, sh = stored_size(pr.width, pr.height, opts.size)
    if rot in (90, 270):
        sw, sh = sh, sw
    has_b = bool((ft == 2).any())
    if reason:
        mv_exact = True
    else:
        x = d.x264
        mv_exact = bool(x) and x.get("ref") == "1" and (x.get("bframes", "0") == "0" or x.get("b_pyramid", "0") == "0")
    checks = {k: h.hexdigest() for k, h in hashers.items()}
    checksum = combine_checksums(checks)
    attrs = {
        "width": width, "height": height, "stored_width": sw, "stored_height": sh,
        "mv_width": mv_width, "mv_height": mv_height,
        "n_frames": d.n, "fps": pr.fps, "rotation": rot, "codec": pr.codec,
        "mv_exact": mv_exact, "reencoded": bool(reason), "frame_stride": opts.frame_stride if opts.frames else 0,
        "checksum": checksum,
    }
    for k, v in attrs.items():
        group.attrs[k] = v
    keys = d.keyframes
    gaps = np.diff(np.asarray(keys + [d.n])) if keys else np.asarray([d.n])
    rec = {
        "n_frames": d.n,
        "n_keyframes": len(keys),
        "n_stored_frames": (len(range(0, d.n, opts.frame_stride)) if opts.frames else 0),
        "gop_mean": round(float(gaps.mean()), 3),
        "gop_max": int(gaps.max()),
        "has_bframes": has_b,
        "fps": round(pr.fps, 4),
        "width": width,
        "height": height,
        "stored_width": sw,
        "stored_height": sh,
        "mv_width": mv_width,
        "mv_height": mv_height,
        "rotation": rot,
        "codec": pr.codec,
        "reencoded": bool(reason),
        "reencode_reason": reason,
        "mv_exact": mv_exact,
        "decode_errors": d.decode_errors,
        "decoder": d.decoder,
        "corrupt_frames": d.corrupt_frames,
        "checksum": checksum,
        "checksums": checks,
    }
    if opts.checksum_source:
        rec["source_checksum"] = file_checksum(src)
    if d.n and (d.decode_errors or d.corrupt_frames):
        rec["warning"] = f"{d.decode_errors} packets failed to decode, {d.corrupt_frames} frames flagged corrupt"
    return rec


def _init_worker(state: dict, opts_dict: dict) -> None:
    state["opts"] = ExtractOptions(**opts_dict)


# ----------------------------------------------------------------------------- the run


@dataclass
class ExtractSummary:
    result: RunResult
    manifest_path: Path
    total: int
    failed: int
    ok: int
    frames: int
    seconds: float
    warnings: list[str]


def part_prefix(opts: ExtractOptions) -> str:
    return f"extract-p{opts.shard_index:03d}of{opts.num_shards:03d}"


def manifest_name(opts: ExtractOptions) -> str:
    if opts.num_shards == 1:
        return schema.MANIFEST
    return f"manifest.part{opts.shard_index:03d}of{opts.num_shards:03d}.json"


def _check_existing(out: Path, opts: ExtractOptions, force: bool) -> None:
    import json

    for m in sorted(out.glob("manifest*.json")):
        try:
            old = json.loads(m.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if old.get("kind") != "extract":
            continue
        if old.get("schema_version") != schema.SCHEMA_VERSION and not force:
            raise CacheError(
                f"{out} holds a cache of schema {old.get('schema_version')}; this vssl writes "
                f"{schema.SCHEMA_VERSION}: use another --out, or --force to start over"
            )
        prev = old.get("options", {})
        diff = [k for k in CONTENT_OPTIONS if k in prev and prev[k] != getattr(opts, k)]
        if diff and not force:
            k = diff[0]
            raise CacheError(
                f"{out} was extracted with {k}={prev[k]!r}, now {getattr(opts, k)!r}: "
                "use another --out, or --force to start over"
            )


def extract(input: Path, out: Path, opts: ExtractOptions, *, splits_dir: Path | None = None,
            force: bool = False, quiet: bool = False) -> ExtractSummary:
    """Extract every video under ``input`` into the cache ``out`` (resuming committed work).

    Raises:
        CacheError: another process writes into ``out`` (names it; exit 3), or ``out`` holds
            a cache of other content options.
    """
    import time

    from vssl.io.inputs import discover_inputs

    opts.validate()
    t0 = time.perf_counter()
    found = discover_inputs(Path(input), splits_dir=splits_dir)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    from vssl.io.lock import stale_note, writer_lock

    # one writer per cache (each part of a --num-shards run: one per part); --force deletes every part's files
    with writer_lock(out, "vssl extract", part=(opts.shard_index, opts.num_shards), whole=force) as stale:
        note = stale_note(stale, out)
        return _extract_locked(input, out, opts, found, force=force, quiet=quiet, t0=t0,
                               notes=[note] if note else [])


def _extract_locked(input: Path, out: Path, opts: ExtractOptions, found, *, force: bool, quiet: bool, t0: float,
                    notes: list[str]) -> ExtractSummary:
    import shutil
    import time

    if force and out.exists():
        for p in [out / schema.SHARD_DIR, *out.glob("manifest*.json")]:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    _check_existing(out, opts, force)
    jobs = []
    for e in found.entries:
        if opts.num_shards > 1 and schema.shard_of(e.id, opts.num_shards) != opts.shard_index:
            continue
        jobs.append(Job(e.id, {"path": str(e.path), "label": e.label, "class_name": e.class_name, "splits": e.splits}))
    opts_dict = asdict(opts)
    if jobs:
        from vssl.io.mv.raster import warm_up

        warm_up()  # compiled once here, then loaded from numba's cache by every worker
    res = run_sharded(
        jobs,
        out_dir=out,
        prefix=part_prefix(opts),
        work_fn=extract_one,
        workers=opts.workers,
        shard_bytes=opts.shard_size,
        attrs={"kind": "extract"},
        init_fn=_init_worker,
        init_args=(opts_dict,),
        strict=opts.strict,
        retry_failed=opts.retry_failed,
        label="extract",
        quiet=quiet,
    )
    manifest = new_manifest(
        "extract",
        {**opts.content(), "num_shards": opts.num_shards, "shard_index": opts.shard_index},
        res.records,
        input=str(Path(input).resolve()),
        dataset_format=found.format,
        classes=list(found.classes),
        part=None if opts.num_shards == 1 else [opts.shard_index, opts.num_shards],
    )
    mpath = out / manifest_name(opts)
    if not res.interrupted:
        atomic_write_json(mpath, manifest)
    ok = [r for r in res.records if r["status"] == schema.OK]
    return ExtractSummary(
        result=res,
        manifest_path=mpath,
        total=len(jobs),
        failed=len(res.records) - len(ok),
        ok=len(ok),
        frames=sum(r.get("n_frames", 0) for r in ok),
        seconds=time.perf_counter() - t0,
        warnings=notes + list(found.warnings),
    )

