"""Clip windows of a cached video, shared by the `vssl precompute` kinds: option checks, batches, frame reading."""

from __future__ import annotations

import numpy as np

from vssl.errors import InputError, VideoError


def check_windows(window: int, stride: int, minimum: int) -> None:
    if window < minimum:
        raise InputError(f"--window must be >= {minimum} (got {window})")
    if stride < 1:
        raise InputError(f"--stride must be >= 1 (got {stride})")


def batches(n: int, size: int):
    for i in range(0, n, size):
        yield i, min(i + size, n)


def read_frames(cache, vid: str, ts: np.ndarray) -> dict[int, np.ndarray]:
    """Decoded frames ``{t: uint8 (H, W, 3)}`` of the distinct frame indices ``ts``."""
    from vssl.io.cache import decode_jpeg

    uniq = np.unique(ts)
    return {int(t): decode_jpeg(b) for t, b in zip(uniq, cache.read_frames_jpeg(vid, uniq))}


def too_short(n: int, window: int) -> VideoError:
    return VideoError(f"too short for a window: {n} frames < --window {window}")
