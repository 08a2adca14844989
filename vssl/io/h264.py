"""Decoding of compressed video with PyAV: probe, frame types, motion vectors, frames.

Motion vectors come from FFmpeg's ``export_mvs`` side data. Each exported vector
covers a block (``w x h`` pixels centred at ``dst``) of the current frame and
says where it came from in a reference frame: ``src = dst + motion / scale``.
:func:`rasterise_mvs` turns them into the cache's dense field (see
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


def _rotation_of(stream, container) -> int:
    """Display rotation (degrees counter-clockwise, multiple of 90) from the display matrix."""
    try:
        for frame in container.decode(stream):
            return int(round((getattr(frame, "rotation", 0) or 0) / 90.0)) * 90 % 360
    except Exception:
        return 0
    return 0


def probe(path: str | Path) -> Probe:
    """Scan packets (no decoding) for codec, size, fps, keyframes and GOP; VideoError if unusable."""
    av = _av()
    container, stream = open_video(path)
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
        n = 0
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    continue
                if pkt.is_keyframe:
                    keys.append(n)
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
        container.seek(0)
        rot = _rotation_of(stream, container)
        has_b = bool(getattr(cc, "has_b_frames", 0))
        return Probe(
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
        )
    finally:
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


def rasterise_mvs(
    mvs: np.ndarray,
    grid_hw: tuple[int, int],
    past_dist: int,
    future_dist: int,
) -> np.ndarray:
    """Dense forward motion per frame from FFmpeg's exported vectors.

    Args:
        mvs: structured array of ``AVMotionVector`` (fields source, w, h, dst_x, dst_y,
            motion_x, motion_y, motion_scale).
        grid_hw: (Hg, Wg) = ceil(H/4), ceil(W/4) of the coded frame.
        past_dist / future_dist: display-order distance (frames) to the past / future
            reference anchor; vectors are divided by it so that the result is per frame.

    Returns:
        float32 (Hg, Wg, 2): (dx, dy) in quarter-pel per frame; where a block has a
        past and a future vector (B-frames) the two per-frame estimates are averaged;
        cells no vector covers (intra blocks) are 0.
    """
    gh, gw = grid_hw
    if len(mvs) == 0:
        return np.zeros((gh, gw, 2), np.float32)
    src = mvs["source"].astype(np.int32)
    scale = mvs["motion_scale"].astype(np.float32)
    scale[scale == 0] = 1.0
    # content displacement reference -> current is (dst - src) = -motion / scale pixels.
    # For a past reference that is forward motion over `past_dist` frames; for a future
    # reference it points backwards in time over `future_dist` frames: turn it round.
    dist = np.where(src < 0, max(past_dist, 1), max(future_dist, 1)).astype(np.float32)
    sign = np.where(src < 0, -1.0, 1.0).astype(np.float32)
    k = sign * schema.MV_SCALE / (scale * dist)
    fx = mvs["motion_x"].astype(np.float32) * k
    fy = mvs["motion_y"].astype(np.float32) * k
    bw = np.maximum(mvs["w"].astype(np.int32) // schema.MV_BLOCK, 1)
    bh = np.maximum(mvs["h"].astype(np.int32) // schema.MV_BLOCK, 1)
    x0 = (mvs["dst_x"].astype(np.int32) - mvs["w"].astype(np.int32) // 2) // schema.MV_BLOCK
    y0 = (mvs["dst_y"].astype(np.int32) - mvs["h"].astype(np.int32) // 2) // schema.MV_BLOCK
    cells_idx, cells_w = [], []
    # group blocks by size: a handful of shapes, each expanded with one broadcast
    shapes = bh * 64 + bw
    for s in np.unique(shapes):
        sel = np.nonzero(shapes == s)[0]
        nh, nw = int(s // 64), int(s % 64)
        rows = y0[sel, None, None] + np.arange(nh)[None, :, None]
        cols = x0[sel, None, None] + np.arange(nw)[None, None, :]
        rows, cols = np.broadcast_arrays(rows, cols)
        inside = (rows >= 0) & (rows < gh) & (cols >= 0) & (cols < gw)
        flat = (rows * gw + cols)[inside]
        owner = np.broadcast_to(sel[:, None, None], inside.shape)[inside]
        cells_idx.append(flat)
        cells_w.append(owner)
    flat = np.concatenate(cells_idx)
    owner = np.concatenate(cells_w)
    n = gh * gw
    cnt = np.bincount(flat, minlength=n).astype(np.float32)
    sx = np.bincount(flat, weights=fx[owner], minlength=n)
    sy = np.bincount(flat, weights=fy[owner], minlength=n)
    out = np.zeros((n, 2), np.float32)
    nz = cnt > 0
    out[nz, 0] = sx[nz] / cnt[nz]
    out[nz, 1] = sy[nz] / cnt[nz]
    return out.reshape(gh, gw, 2)


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


def stored_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) of stored frames: short side ``short_side`` (never upscaled), even sides."""
    s = min(width, height)
    if short_side <= 0 or s <= short_side:
        w, h = width, height
    else:
        f = short_side / s
        w, h = round(width * f), round(height * f)
    return max(2, w // 2 * 2), max(2, h // 2 * 2)
