"""Tiny videos written on the fly for tests (no binary fixtures in the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vssl.io.video.encode import write_frames


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A high-contrast random texture (uint8 (h, w, 3)) that encoders track well."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(-(-h // 4), -(-w // 4), 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 4, 0), 4, 1)[:h, :w]


def moving_square_frames(n=24, size=(96, 64), speed=(3, 0), box=24, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n, H, W, 3) of a textured square moving ``speed`` px/frame over a static texture.

    Returns (frames, masks) with masks (n, H, W) bool.
    """
    w, h = size
    bg = texture(h, w, seed)
    fg = texture(box, box, seed + 1) // 2 + 100
    frames = np.empty((n, h, w, 3), np.uint8)
    masks = np.zeros((n, h, w), bool)
    x0, y0 = 8, (h - box) // 2
    for t in range(n):
        x = x0 + speed[0] * t
        y = y0 + speed[1] * t
        f = bg.copy()
        xs, ys = max(x, 0), max(y, 0)
        xe, ye = min(x + box, w), min(y + box, h)
        if xe > xs and ye > ys:
            f[ys:ye, xs:xe] = fg[ys - y : ye - y, xs - x : xe - x]
            masks[t, ys:ye, xs:xe] = True
        frames[t] = f
    return frames, masks


def write_video(path: Path, frames: np.ndarray, *, codec="libx264", fps=25, options=None, pix_fmt="yuv420p",
                container_format=None, rotate: int | None = None, hflip: bool = False) -> Path:
    """Encode uint8 RGB frames (n, H, W, 3) with vssl's one frame writer
    (:func:`vssl.io.video.encode.write_frames`); ``rotate``: a display matrix turning the
    picture ``rotate`` degrees counter-clockwise (FFmpeg 8 muxers ignore the old 'rotate' tag)."""
    return write_frames(path, frames, codec=codec, fps=fps, options=options, pix_fmt=pix_fmt,
                        container_format=container_format, rotate=rotate, hflip=hflip)


X264_CANONICAL = {"x264-params": "keyint=12:min-keyint=12:scenecut=0:ref=1:bframes=0", "preset": "fast", "crf": "18"}
X264_BFRAMES = {"x264-params": "keyint=12:min-keyint=12:scenecut=0:ref=1:bframes=2:b-pyramid=none:b-adapt=0",
                "preset": "fast", "crf": "18"}
