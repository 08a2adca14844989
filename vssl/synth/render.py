"""Compositing the objects over the background (static, or seen by a panning camera), frame by frame."""

from __future__ import annotations

import cv2
import numpy as np

from vssl.synth.motion import Track



def _draw(frame: np.ndarray, track: Track, t: int) -> np.ndarray:
    """Draw one object into ``frame`` (uint8 (H, W, 3), in place); return its bool (H, W) mask."""
    h, w = frame.shape[:2]
    s = track.sprite
    mask = np.zeros((h, w), bool)
    if track.translating:
        x0 = int(round(track.centre[t, 0] - (s.w - 1) / 2))
        y0 = int(round(track.centre[t, 1] - (s.h - 1) / 2))
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x0 + s.w, w), min(y0 + s.h, h)
        if xb <= xa or yb <= ya:
            return mask
        a = s.alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
        region = frame[ya:yb, xa:xb]
        region[a] = s.rgb[ya - y0 : yb - y0, xa - x0 : xb - x0][a]
        mask[ya:yb, xa:xb] = a
        return mask
    # rotate / scale about the sprite centre, then move it to track.centre[t]
    m = cv2.getRotationMatrix2D(((s.w - 1) / 2, (s.h - 1) / 2), float(track.angle[t]), float(track.scale[t]))
    m[0, 2] += track.centre[t, 0] - (s.w - 1) / 2
    m[1, 2] += track.centre[t, 1] - (s.h - 1) / 2
    rgb = cv2.warpAffine(s.rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(s.alpha.astype(np.uint8) * 255, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = alpha >= 128
    frame[mask] = rgb[mask]
    return mask


def render_video(
    background: np.ndarray, tracks: list[Track], camera: np.ndarray | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite the objects over the background, frame by frame.

    Args:
        background: uint8 (H, W, 3); with ``camera``, larger than the frame.
        tracks: N objects (drawn in order; later ones on top), in frame coordinates.
        camera: int (T, 2) top-left (x, y) of each frame's window into ``background``
            (a panning camera: the background moves, the objects' tracks stay in frame
            coordinates); None = the whole background, static.
        size: (width, height) of the frames with ``camera``.

    Returns:
        frames: uint8 (T, H, W, 3) RGB.
        masks: bool (T, H, W) union of the objects.
        boxes: int32 (T, N, 4) x0, y0, x1, y1 (exclusive) of each object's pixels
            (all zero where an object has no pixel).
    """
    t_len = len(tracks[0].centre)
    w, h = size if camera is not None else background.shape[1::-1]
    frames = np.empty((t_len, h, w, 3), np.uint8)
    masks = np.zeros((t_len, h, w), bool)
    boxes = np.zeros((t_len, len(tracks), 4), np.int32)
    for t in range(t_len):
        frame = frames[t]
        if camera is None:
            frame[:] = background
        else:
            x0, y0 = int(camera[t, 0]), int(camera[t, 1])
            frame[:] = background[y0 : y0 + h, x0 : x0 + w]
        for k, tr in enumerate(tracks):
            m = _draw(frame, tr, t)
            masks[t] |= m
            cols = np.flatnonzero(m.any(0))
            rows = np.flatnonzero(m.any(1))
            if len(cols):
                boxes[t, k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return frames, masks, boxes

