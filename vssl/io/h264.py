"""Decoding of compressed video with PyAV: probe, frame types, motion vectors, frames.

Motion vectors come from FFmpeg's ``export_mvs`` side data. Each exported vector
covers a block (``w x h`` pixels centred at ``dst``) of the current frame and
says where it came from in a reference frame: ``src = dst + motion / scale``.
:func:`rasterise_batch` turns them into the cache's dense field (see
``vssl.io.schema``): forward motion per frame, quarter-pel, 4x4-pixel cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vssl.errors import VideoError
from vssl.io import schema

PICT_TYPES = {1: "I", 2: "P", 3: "B"}
_X264_OPT = re.compile(rb"x264 - core \d+.*?options: ([^\x00]*)", re.S)


def _av():
    import av  # imported lazily: `vssl --help` must not pay for it

    av.logging.set_level(None)  # FFmpeg's own log lines would break our one-line errors
    return av


@dataclass
class Probe:
    """What the container and a packet scan say about the first video stream."""

    path: str
    codec: str
    width: int  # coded frame size before rotation
    height: int
    fps: float
    duration_s: float
    n_packets: int
    keyframe_packets: list[int] = field(default_factory=list)  # packet indices (decode order)
    max_gop: int = 0
    rotation: int = 0  # degrees to rotate the decoded frame counter-clockwise for display
    has_bframes: bool = False
    n_video_streams: int = 1
    pts: list[int] = field(default_factory=list)  # presentation timestamps, display order
    x264: dict = field(default_factory=dict)  # encoder settings found in the stream, if x264
    time_base: str = ""
    # (container, stream) left open by probe(keep_open=True) for decoding; close_handle() it
    handle: object = field(default=None, repr=False, compare=False)

    def close_handle(self) -> None:
        if self.handle is not None:
            self.handle[0].close()
            self.handle = None

    def as_dict(self) -> dict:
        return {
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 4),
            "duration_s": round(self.duration_s, 4),
            "rotation": self.rotation,
            "max_gop": self.max_gop,
        }


def open_video(path: str | Path):
    """Open a file and return (container, first video stream); VideoError on failure."""
    av = _av()
    path = str(path)
    p = Path(path)
    if not p.exists():
        raise VideoError("file not found (or a broken link)")
    if p.is_dir():
        raise VideoError("is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except PermissionError:
        raise VideoError("permission denied") from None
    except av.FFmpegError as e:
        raise VideoError(f"not a readable video container ({_ff_reason(e)})") from None
    except (OSError, UnicodeError) as e:
        raise VideoError(f"cannot open: {e}") from None
    if not container.streams.video:
        container.close()
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"no video stream (streams: {', '.join(kinds)})")
    return container, container.streams.video[0]


def _ff_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).split(":")[0].strip() or type(e).__name__


def _rot90(angle: int) -> int:
    """A display-matrix angle (degrees counter-clockwise, as ``VideoFrame.rotation``) to 0/90/180/270."""
    return int(round(angle / 90.0)) * 90 % 360


def _mov_boxes(f, start: int, end: int):
    """(type, payload start, box end) of the ISO-BMFF boxes in bytes [start, end) of ``f``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        size, kind, hlen = int.from_bytes(head[:4], "big"), head[4:], 8
        if size == 1:  # 64-bit size follows
            ext = f.read(8)
            if len(ext) < 8:
                return
            size, hlen = int.from_bytes(ext, "big"), 16
        elif size == 0:  # runs to the end
            size = end - pos
        if size < hlen or pos + size > end:
            return
        yield kind, pos + hlen, pos + size
        pos += size


def _mov_rotation(path: str | Path, track_id: int) -> int | None:
    """``VideoFrame.rotation`` of the decoded frames of track ``track_id`` of an MP4/MOV file, without decoding.

    FFmpeg's mov demuxer makes the stream's display matrix (coded side data, which the decoder
    copies onto every frame) from the 'tkhd' matrix times the 'mvhd' one, and sets none when that
    product is the identity. PyAV 18 has no reader for a stream's side data, so this redoes that
    product and ``av_display_rotation_get`` from the two boxes. None when unsure (no moov, a
    compressed or odd header, no or several matching tracks, a degenerate matrix): decode then.
    """
    import math
    import struct

    def matrix(f, at: int) -> tuple[int, ...] | None:
        f.seek(at)
        b = f.read(36)
        return struct.unpack(">9i", b) if len(b) == 36 else None

    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            moov = next(((a, b) for k, a, b in _mov_boxes(f, 0, f.tell()) if k == b"moov"), None)
            if moov is None:
                return None
            movie, found = None, []
            for kind, a, b in _mov_boxes(f, *moov):
                if kind == b"mvhd":
                    f.seek(a)
                    ver = f.read(1)
                    if ver not in (b"\x00", b"\x01"):
                        return None
                    movie = matrix(f, a + (48 if ver == b"\x01" else 36))
                elif kind == b"trak":
                    tkhd = next(((ta, tb) for k, ta, tb in _mov_boxes(f, a, b) if k == b"tkhd"), None)
                    if tkhd is None:
                        continue
                    f.seek(tkhd[0])
                    ver = f.read(1)
                    if ver not in (b"\x00", b"\x01"):
                        return None
                    f.seek(tkhd[0] + (20 if ver == b"\x01" else 12))
                    if int.from_bytes(f.read(4), "big") == track_id:
                        found.append((matrix(f, tkhd[0] + (52 if ver == b"\x01" else 40)), movie))
    except OSError:
        return None
    if len(found) != 1 or found[0][0] is None or found[0][1] is None:
        return None
    tk, mv = found[0]
    m = []  # FFmpeg mov_read_tkhd: int32 fixed point, rows 16.16, 16.16, 2.30
    for i in range(3):
        for j in range(3):
            s = sum((tk[3 * i + e] * mv[3 * e + j]) >> (16, 16, 30)[e] for e in range(3))
            m.append((s + 2**31) % 2**32 - 2**31)
    if m == [1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30]:
        return 0  # identity: no display matrix at all
    fp = [v / 65536.0 for v in m]  # av_display_rotation_get
    s0, s1 = math.hypot(fp[0], fp[3]), math.hypot(fp[1], fp[4])
    if s0 == 0.0 or s1 == 0.0:
        return None
    return int(-(math.atan2(fp[1] / s1, fp[0] / s0) * 180 / math.pi))  # int(): as PyAV, toward zero


def probe(path: str | Path, keep_open: bool = False) -> Probe:
    """Scan packets (no decoding) for codec, size, fps, keyframes and GOP; VideoError if unusable.

    ``keep_open``: hand the open container to :func:`iter_frames_pyav` through
    ``Probe.handle`` (saves opening the file twice) when no frame was decoded here.
    """
    av = _av()
    container, stream = open_video(path)
    keep = False
    try:
        cc = stream.codec_context
        codec = cc.name if cc is not None else "unknown"
        try:
            av.codec.Codec(codec, "r")
        except Exception:
            raise VideoError(f"no decoder for codec '{codec}' in this FFmpeg build") from None
        width, height = int(stream.width or 0), int(stream.height or 0)
        if width <= 0 or height <= 0:
            raise VideoError(f"video stream has no frame size ({codec})")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        keys: list[int] = []
        pts: list[int] = []
        n = 0
        # rotation: from the MP4/MOV header; other containers (Matroska can carry a display matrix
        # too) or an unsure header: from the first decoded frame, as FFmpeg hands it over
        angle = _mov_rotation(path, stream.id) if "mov" in (container.format.name or "").split(",") else None
        decode = angle is None
        rot, x264, first = _rot90(angle or 0), {}, None
        if decode:
            stream.thread_count = 1  # only the first frame is decoded: a thread pool costs more
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    continue
                if pkt.is_keyframe:
                    keys.append(n)
                pts.append(pkt.pts if pkt.pts is not None else n)
                if n == 0:  # x264 writes its settings as an SEI (user data unregistered) in access unit 0
                    extra = getattr(cc, "extradata", None) or b""
                    x264 = parse_x264_options(bytes(pkt)) or parse_x264_options(extra)
                if decode and first is None and n < 64:  # rotation (display matrix) from frame 0
                    try:
                        for frame in pkt.decode():
                            first = frame
                            rot = _rot90(getattr(frame, "rotation", 0) or 0)
                            sei = frame.side_data.get("SEI_UNREGISTERED")
                            x264 = x264 or (parse_x264_options(bytes(sei)) if sei is not None else {})
                            break
                    except av.FFmpegError:
                        pass
                n += 1
        except av.FFmpegError:
            pass  # truncated: decoding tells how much is usable
        if n == 0:
            raise VideoError(f"no video packets ({codec})")
        bounds = keys + [n]
        gops = [b - a for a, b in zip(bounds[:-1], bounds[1:])] or [n]
        if keys and keys[0] != 0:
            gops.append(keys[0])
        dur = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        has_b = bool(getattr(cc, "has_b_frames", 0))
        keep = keep_open and not decode  # a decoder opened here would ignore the export_mvs option
        return Probe(
            handle=(container, stream) if keep else None,
            path=str(path),
            codec=codec,
            width=width,
            height=height,
            fps=fps,
            duration_s=dur,
            n_packets=n,
            keyframe_packets=keys,
            max_gop=max(gops),
            rotation=rot,
            has_bframes=has_b,
            n_video_streams=len(container.streams.video),
            pts=sorted(pts),
            x264=x264,
            time_base=str(stream.time_base) if stream.time_base else "",
        )
    finally:
        if not keep:
            container.close()


def parse_x264_options(sei: bytes) -> dict[str, str]:
    """x264 writes its settings into an SEI message: 'ref=1 bframes=2 b_pyramid=0 ...'."""
    m = _X264_OPT.search(sei)
    if not m:
        return {}
    out = {}
    for tok in m.group(1).decode("ascii", "replace").split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


# Column order of mvextractor's (N, 10) vector arrays.
MVX_COLUMNS = ("source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")


# PyAV's MotionVectors.to_ndarray() dtype (FFmpeg's AVMotionVector)
PYAV_MV_DTYPE = np.dtype({
    "names": ["source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "flags", "motion_x", "motion_y", "motion_scale"],
    "formats": ["<i4", "u1", "u1", "<i2", "<i2", "<i2", "<i2", "<u8", "<i4", "<i4", "<u2"],
    "offsets": [0, 4, 5, 6, 8, 10, 12, 16, 24, 28, 32], "itemsize": 40, "aligned": True,
})

# The fields the rasteriser uses, and where they sit in an mvextractor row.
MV_FIELDS = ("source", "w", "h", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")
_MVX_SELECT = [MVX_COLUMNS.index(k) for k in MV_FIELDS]


def mv_columns(mvs: np.ndarray) -> tuple[np.ndarray, ...]:
    """The :data:`MV_FIELDS` columns from either a PyAV structured ``AVMotionVector``
    array or an mvextractor ``(N, 10)`` integer array."""
    if mvs.dtype.names:
        return tuple(mvs[k] for k in MV_FIELDS)
    m = mvs.T
    return tuple(m[i] for i in _MVX_SELECT)


def _as_columns(mvs: np.ndarray) -> np.ndarray:
    """(N, 8) int64: source, w, h, dst_x, dst_y, motion_x, motion_y, motion_scale."""
    if mvs.dtype.names:
        return np.stack([np.asarray(c, np.int64) for c in mv_columns(mvs)], 1)
    return mvs[:, _MVX_SELECT].astype(np.int64, copy=False)


def _rasterise_coarse(frames, grid_hw):
    """The work of :func:`rasterise_batch` on the coarsest aligned grid.

    Returns ``(gx, gy, (nf, uh, uw, r))``: float32 flat ``(nf * uh * uw,)`` per
    component, the grid in cells of ``r x r`` 4x4-cells; None for gx/gy when no frame
    has vectors.
    """
    gh, gw = grid_hw
    nf = len(frames)
    parts, counts, pd, fd, slots = [], [], [], [], []
    for i, (mvs, p, f) in enumerate(frames):
        if mvs is None or len(mvs) == 0:
            continue
        parts.append(mvs)
        counts.append(len(mvs))
        slots.append(i)
        pd.append(max(p, 1))
        fd.append(max(f, 1))
    if not parts:
        return None, None, (nf, gh, gw, 1)
    if all(not a.dtype.names and a.ndim == 2 and a.shape[1] == 10 for a in parts):
        cols = np.concatenate(parts).T[_MVX_SELECT]  # one row per column: contiguous passes
        if cols.dtype != np.int32:
            cols = cols.astype(np.int64)
    else:
        cols = np.ascontiguousarray(np.concatenate([_as_columns(a) for a in parts]).T)
    counts_per = np.asarray(counts)
    slot = np.repeat(np.asarray(slots, np.int64), counts_per)
    pdist = np.repeat(np.asarray(pd, np.float32), counts_per)
    fdist = np.repeat(np.asarray(fd, np.float32), counts_per)
    src, w, h, dst_x, dst_y, motion_x, motion_y, scale = cols
    scale = scale.astype(np.float32)
    scale[scale == 0] = 1.0
    past = src < 0
    # content displacement reference -> current is (dst - src) = -motion / scale pixels.
    # For a past reference that is forward motion over `past_dist` frames; for a future
    # reference it points backwards in time over `future_dist` frames: turn it round.
    k = np.where(past, -schema.MV_SCALE / pdist, schema.MV_SCALE / fdist) / scale
    vx = (motion_x.astype(np.float64) * k).astype(np.float32)
    vy = (motion_y.astype(np.float64) * k).astype(np.float32)
    left = dst_x - (w >> 1)
    top = dst_y - (h >> 1)
    # Paint on the coarsest grid every block is aligned to (H.264 exports 8x8 and up,
    # often 16x16), then repeat cells down to the 4x4 grid: same result, fewer cells.
    bits = int(np.bitwise_or.reduce(w | h | left | top)) | 16
    unit = max(bits & -bits, schema.MV_BLOCK)
    sh = unit.bit_length() - 1
    uh, uw = -(-gh * schema.MV_BLOCK // unit), -(-gw * schema.MV_BLOCK // unit)
    nw = np.maximum(w >> sh, 1)
    nh = np.maximum(h >> sh, 1)
    x0 = left >> sh
    y0 = top >> sh
    m = uh * uw
    total = nf * m
    base = slot * m + y0.astype(np.int64) * uw + x0  # flat cell of each block's top-left
    # A block covers nh x nw cells: one scatter per cell offset (dy, dx) over the blocks
    # that reach it, instead of expanding every block into its cells (fewer passes).
    one = past.all() or not past.any()
    dirs = [None] if one else [past, ~past]
    ndy, ndx = int(nh.max()), int(nw.max())
    rows = [(nh > dy) & (y0 + dy >= 0) & (y0 + dy < uh) for dy in range(ndy)]
    colm = [(nw > dx) & (x0 + dx >= 0) & (x0 + dx < uw) for dx in range(ndx)]
    out = []
    for direction in dirs:
        gx = np.zeros(total, np.float32)
        gy = np.zeros(total, np.float32)
        cov = None if one else np.zeros(total, bool)
        for dy in range(ndy):
            rsel = rows[dy] if direction is None else rows[dy] & direction
            for dx in range(ndx):
                idx = np.flatnonzero(rsel & colm[dx])
                flat = base[idx] + (dy * uw + dx)
                gx[flat] = vx[idx]
                gy[flat] = vy[idx]
                if cov is not None:
                    cov[flat] = True
        out.append((gx, gy, cov))
    if one:
        # one list (P-frames): blocks do not overlap, plain assignment suffices
        gx, gy, _ = out[0]
    else:
        # B-frames: a past and a future estimate per block. FFmpeg often exports an
        # exact (0, 0) for the direction a block does not use (seen on synth clips:
        # ~20 % of B blocks), so a zero beside a non-zero estimate is dropped, and two
        # real estimates are averaged.
        (px, py, cp), (fx, fy, cf) = out
        zp = (px == 0) & (py == 0)
        zf = (fx == 0) & (fy == 0)
        both = cp & cf
        wp = (cp & ~(both & zp & ~zf)).astype(np.float32)
        wf = (cf & ~(both & zf & ~zp)).astype(np.float32)
        n = np.maximum(wp + wf, 1.0)
        gx = (px * wp + fx * wf) / n
        gy = (py * wp + fy * wf) / n
    return gx, gy, (nf, uh, uw, unit // schema.MV_BLOCK)


def _expand(gx, gy, shape, grid_hw, dtype) -> np.ndarray:
    """Coarse components -> (F, Hg, Wg, 2) of ``dtype``, each cell repeated r x r."""
    nf, uh, uw, r = shape
    gh, gw = grid_hw
    if gx is None:
        return np.zeros((nf, gh, gw, 2), dtype)
    pair = np.empty((nf, uh, 1, uw, 1, 2), dtype)
    pair[..., 0] = gx.reshape(nf, uh, 1, uw, 1)
    pair[..., 1] = gy.reshape(nf, uh, 1, uw, 1)
    wide = np.dtype(f"V{2 * np.dtype(dtype).itemsize}")  # (dx, dy) as one element: one copy pass
    out = np.empty((nf, uh, r, uw, r), wide)
    out[...] = pair.view(wide)[..., 0]
    out = out.view(dtype).reshape(nf, uh * r, uw * r, 2)
    return out if (uh * r, uw * r) == (gh, gw) else out[:, :gh, :gw]


def rasterise_batch(
    frames: list[tuple[np.ndarray | None, int, int]],
    grid_hw: tuple[int, int],
) -> np.ndarray:
    """Dense forward motion per frame from FFmpeg's exported vectors, several frames at once.

    Args:
        frames: per frame ``(mvs, past_dist, future_dist)``: the vectors (PyAV's
            structured array or mvextractor's (N, 10) array, see :func:`mv_columns`;
            None = no vectors) and the display-order distance (frames) to the past /
            future reference anchor; vectors are divided by it so that the result is per
            frame.
        grid_hw: (Hg, Wg) = ceil(H/4), ceil(W/4) of the coded frame.

    Returns:
        float32 (F, Hg, Wg, 2): (dx, dy) in quarter-pel per frame; where a block has a
        past and a future vector (B-frames) the two per-frame estimates are averaged
        (an exact zero beside a non-zero estimate is taken as FFmpeg's filler and dropped);
        cells no vector covers (intra blocks, frames without vectors) are 0. Blocks
        reaching past the frame edge (coded size is a multiple of 16) keep their inside
        cells. One vectorised pass for all frames: the per-call overhead of numpy is
        paid once per batch, not once per frame.
    """
    gx, gy, shape = _rasterise_coarse(frames, grid_hw)
    return _expand(gx, gy, shape, grid_hw, np.float32)


def rasterise_batch_int16(
    frames: list[tuple[np.ndarray | None, int, int]],
    grid_hw: tuple[int, int],
) -> np.ndarray:
    """:func:`rasterise_batch` rounded to int16 (``clip(rint(v), -32767, 32767)``, the
    cache's ``mv``): the same values, but rounded on the coarse grid before the cells are
    repeated (elementwise, so the order does not change the result), which is cheaper.
    """
    gx, gy, shape = _rasterise_coarse(frames, grid_hw)
    q = (None, None) if gx is None else (_to_int16(gx), _to_int16(gy))
    return _expand(q[0], q[1], shape, grid_hw, np.int16)


def _to_int16(v: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(v), -32767, 32767).astype(np.int16)


def rotate_field(mv: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a (Hg, Wg, 2) vector field for display, turning the vectors with the grid.

    ``rotation`` is counter-clockwise degrees (FFmpeg's display-matrix angle);
    the frames are turned by the same amount (:func:`rotate_image`).
    """
    r = rotation % 360
    if r == 0:
        return mv
    dx, dy = mv[..., 0], mv[..., 1]
    if r == 90:  # counter-clockwise: (x, y) -> (y, W-1-x); vectors (dx, dy) -> (dy, -dx)
        g = np.stack([dy, -dx], -1)
        return np.ascontiguousarray(np.rot90(g, 1, axes=(0, 1)))
    if r == 180:
        return np.ascontiguousarray(-mv[::-1, ::-1])
    # 270 (= -90, clockwise): (x, y) -> (H-1-y, x); vectors -> (-dy, dx)
    g = np.stack([-dy, dx], -1)
    return np.ascontiguousarray(np.rot90(g, -1, axes=(0, 1)))


def rotate_image(img: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an (H, W, C) image counter-clockwise by ``rotation`` degrees (multiple of 90)."""
    r = rotation % 360
    if r == 0:
        return img
    return np.ascontiguousarray(np.rot90(img, r // 90, axes=(0, 1)))


_REFORMATTER: list = []


def frame_to_bgr(frame, width: int, height: int) -> np.ndarray:
    """Decoded frame -> uint8 (height, width, 3) BGR, resized with area averaging.

    One swscale pass (conversion and scaling together) through a reformatter kept for
    the process, so its scaling context is reused from frame to frame: 0.13 ms per
    320x240 -> 170x128 frame on the 2-core VM, as fast as OpenCV's conversion plus a
    bilinear resize, and closer to an exact area average (42 vs 34 dB PSNR).
    """
    if not _REFORMATTER:
        from av.video.reformatter import VideoReformatter

        _REFORMATTER.append(VideoReformatter())
    out = _REFORMATTER[0].reformat(frame, width=width, height=height, format="bgr24", interpolation="AREA")
    return out.to_ndarray()


def resize_bgr(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a BGR image to (height, width) with area averaging (OpenCV)."""
    import cv2

    if img.shape[:2] == (height, width):
        return img
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def stored_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) of stored frames: short side ``short_side`` (never upscaled), even sides."""
    s = min(width, height)
    if short_side <= 0 or s <= short_side:
        w, h = width, height
    else:
        f = short_side / s
        w, h = round(width * f), round(height * f)
    return max(2, w // 2 * 2), max(2, h // 2 * 2)


@dataclass
class DecodedFrame:
    """One decoded frame, in display order, from either decoder."""

    code: int  # schema frame type code
    mvs: np.ndarray | None  # exported vectors (see mv_columns), None when there are none
    image: object  # callable (width, height) -> uint8 BGR (coded orientation), or None
    corrupt: bool = False


@dataclass
class DecodeStats:
    decode_errors: int = 0
    decoder: str = ""


def _code_of(name: str | None) -> int:
    return schema.FRAME_TYPE_CODES.get(name, schema.FRAME_TYPE_OTHER) if name else schema.FRAME_TYPE_OTHER


def _rewound(path: str, handle):
    """(container, stream): ``handle`` (from ``probe(keep_open=True)``) rewound to the start, or
    ``path`` opened again when there is none or it cannot seek."""
    av = _av()
    if handle is not None:
        container, stream = handle
        try:
            container.seek(0, stream=stream)
            return container, stream
        except (av.FFmpegError, ValueError):
            container.close()
    return open_video(path)


def _decoded(frame, t: int) -> DecodedFrame:
    """A PyAV frame (the ``t``-th in display order) with its exported vectors as a DecodedFrame."""
    code = _code_of(PICT_TYPES.get(int(frame.pict_type)))
    if t == 0 and code == schema.FRAME_TYPE_OTHER and frame.key_frame:
        code = schema.FRAME_TYPE_CODES["I"]
    sd = frame.side_data.get("MOTION_VECTORS")
    return DecodedFrame(
        code=code,
        # copied: a view of the side data keeps the decoded frame (and its picture) alive
        # until the rows are rasterised, up to a few hundred frames later
        mvs=sd.to_ndarray().copy() if sd is not None else None,
        image=(lambda w, h, f=frame: frame_to_bgr(f, w, h)),
        corrupt=bool(getattr(frame, "is_corrupt", False)),
    )


def iter_frames_pyav(path: str, stats: DecodeStats, want_image=None, threads: int = 1, handle=None):
    """Frames of the first video stream with motion vectors, decoded by PyAV.

    Packets that fail to decode are counted in ``stats.decode_errors`` and skipped.
    ``handle``: (container, stream) from ``probe(keep_open=True)``, rewound and used
    (and closed) instead of opening ``path`` again.
    """
    av = _av()
    container, stream = _rewound(path, handle)
    stats.decoder = "pyav"
    try:
        stream.codec_context.options = {"flags2": "+export_mvs"}
        stream.thread_count = threads
        t = 0
        for pkt in container.demux(stream):
            try:
                out = pkt.decode()
            except av.FFmpegError:
                stats.decode_errors += 1
                continue
            for frame in out:
                yield _decoded(frame, t)
                t += 1
    except av.FFmpegError as e:
        raise VideoError(f"decoding failed after {t} frames ({_ff_reason(e)})") from None
    finally:
        container.close()


def reencode_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(w, h) of a re-encoded stream: the source scaled to ``short_side`` (None or 0: the source
    size; never upscaled), both sides even (yuv420p); the rule of :func:`stored_size`."""
    return stored_size(width, height, short_side or 0)


# --reencode-preset: "fast" (the default) is x264's veryfast with a diamond motion search, one
# sub-pel refinement step and CAVLC, and the source decoded without its deblocking filter when the
# re-encode scales it down by 2 or more; "veryfast" is x264's preset as it is (hexagon search,
# subme 2, CABAC) from a fully decoded source. Measured on vssl synth ground truth (16 videos,
# 320x240 -> 170x128, 660 object frames): mean error 0.184 px fast, 0.181 px veryfast; about
# 1.4x the frames/s of veryfast on 640x360 H.264 clips (README, "Benchmarks").
REENCODE_PRESETS = ("fast", "veryfast")
_FAST_X264 = ":me=dia:subme=1:cabac=0"


def x264_reencode_options(gop: int, threads: int = 1, preset: str = "fast", crf: int = 18) -> dict[str, str]:
    """Encoder options of the canonical re-encode: GOP ``gop``, one reference, no B-frames, no
    mb-tree, no scene-cut keyframes, so every motion vector is the one-frame displacement;
    ``preset``: one of :data:`REENCODE_PRESETS`."""
    if preset not in REENCODE_PRESETS:
        raise ValueError(f"re-encode preset must be one of {', '.join(REENCODE_PRESETS)}, not {preset!r}")
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:ref=1:bframes=0:mbtree=0:threads={threads}"
    return {
        "preset": "veryfast",
        "crf": str(crf),
        "x264-params": params + (_FAST_X264 if preset == "fast" else ""),
    }


def reencode_source_options(preset: str, source_wh: tuple[int, int], size: tuple[int, int]) -> dict[str, str]:
    """Decoder options of the source of a re-encode: with the ``fast`` preset and a downscale by 2
    or more, skip the deblocking filter (the area filter of the downscale averages its block edges
    away; a third less decoding time on H.264 sources); otherwise none."""
    if preset == "fast" and min(source_wh) >= 2 * min(size):
        return {"skip_loop_filter": "all"}
    return {}


def iter_frames_reencode(path: str, stats: DecodeStats, *, gop: int, size: tuple[int, int], threads: int = 1,
                         handle=None, fps: float | None = None, preset: str = "fast"):
    """Frames of a canonical H.264 re-encode of ``path``, in one streaming pass.

    Decode the source -> scale to ``size`` (w, h) -> encode with
    :func:`x264_reencode_options` (``preset``) -> decode the new packets in memory with
    motion-vector export: no temporary file, no second open. The frames (and their vectors, in
    quarter-pel of ``size``) are those of the re-encoded stream, as the two-pass path
    (encode to a file, decode it) gives; display order equals decode order (no B-frames).
    ``handle``: (container, stream) from ``probe(keep_open=True)``, rewound and used.
    """
    from fractions import Fraction

    from av.video.reformatter import VideoReformatter

    av = _av()
    container, stream = _rewound(path, handle)
    stats.decoder = "pyav-reencode"
    w, h = size
    scaler = VideoReformatter()
    t = 0
    try:
        stream.thread_count = threads
        src_opts = reencode_source_options(preset, (stream.width, stream.height), size)
        if src_opts:
            stream.codec_context.options = src_opts
        rate = Fraction(stream.average_rate or stream.guessed_rate or fps or 25).limit_denominator(100000)
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
        enc.time_base, enc.framerate = 1 / rate, rate
        enc.thread_count = threads
        enc.options = x264_reencode_options(gop, threads, preset)
        dec = av.CodecContext.create("h264", "r")
        dec.options = {"flags2": "+export_mvs"}

        def frames_of(packets):
            nonlocal t
            for pkt in packets:
                for frame in dec.decode(pkt):
                    yield _decoded(frame, t)
                    t += 1

        n_in = 0
        demux = container.demux(stream)
        while True:
            try:
                pkt = next(demux)
            except StopIteration:
                break
            except av.FFmpegError:
                stats.decode_errors += 1
                break
            try:
                decoded = pkt.decode()
            except av.FFmpegError:
                stats.decode_errors += 1
                continue
            for frame in decoded:
                f2 = scaler.reformat(frame, width=w, height=h, format="yuv420p", interpolation="AREA")
                f2.pts, f2.time_base = n_in, enc.time_base
                n_in += 1
                yield from frames_of(enc.encode(f2))
        if n_in == 0:
            raise VideoError("cannot decode any frame for re-encoding")
        yield from frames_of(enc.encode(None))
        yield from frames_of([None])
    except av.FFmpegError as e:
        raise VideoError(f"re-encoding failed after {t} frames ({_ff_reason(e)})") from None
    finally:
        container.close()


def iter_frames_mvextractor(path: str, stats: DecodeStats, want_image=None):
    """Frames with motion vectors decoded by mvextractor (its C++ loop has less
    per-frame overhead than PyAV's). Images are converted only for frames where
    ``want_image(t, code)`` is true. Raises VideoError if it cannot open the file."""
    from mvextractor.videocap import VideoCap

    cap = VideoCap()
    if not cap.open(str(path)):
        raise VideoError("mvextractor cannot open the file")
    stats.decoder = "mvextractor"
    try:
        cap.set_decode_frames(False)
        t = 0
        while cap.grab():
            ok, img, mvs, ftype = cap.retrieve()[:4]
            if not ok:
                stats.decode_errors += 1
                break
            code = _code_of(ftype if ftype in ("I", "P", "B") else None)
            if want_image is not None and want_image(t, code):
                cap.set_decode_frames(True)
                ok, img = cap.retrieve()[:2]
                cap.set_decode_frames(False)
            image = None
            if img is not None:
                image = (lambda w, h, im=img: resize_bgr(im, w, h))
            yield DecodedFrame(code=code, mvs=mvs if mvs is not None and len(mvs) else None, image=image)
            t += 1
    finally:
        cap.release()
