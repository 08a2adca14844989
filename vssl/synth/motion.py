"""Per-class motion of the objects: :class:`Track` and :func:`motion_tracks`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vssl.synth.spec import _OBJ_FRAC, _PAN_MARGIN, _PAN_SPEEDS, _SPEEDS, CLASS_NAMES
from vssl.synth.textures import Sprite, make_sprite



@dataclass
class Track:
    """The motion of one object over T frames.

    Attributes:
        sprite: what is drawn.
        centre: float64 (T, 2) (x, y) position of the sprite's centre, pixel-index
            coordinates (a translating sprite's top-left is ``centre - ((w-1)/2, (h-1)/2)``,
            always an integer).
        angle: float64 (T,) rotation in degrees, counter-clockwise on screen.
        scale: float64 (T,) scale factor.
        translating: True if angle and scale never change (pure integer translation).
    """

    sprite: Sprite
    centre: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    translating: bool


def _translation_track(sprite: Sprite, tl: np.ndarray) -> Track:
    """Track from integer top-left positions ``tl`` int (T, 2)."""
    tl = np.asarray(tl, np.float64)
    t = len(tl)
    centre = tl + np.array([(sprite.w - 1) / 2, (sprite.h - 1) / 2])
    return Track(sprite, centre, np.zeros(t), np.ones(t), True)


def _bounce_1d(rng: np.random.Generator, lo: int, hi: int, speed: int, frames: int) -> np.ndarray:
    """Integer positions in [lo, hi] moving at ``speed`` px/frame, reflecting at the ends.

    Returns:
        int64 (frames,).
    """
    hi = max(hi, lo)
    p = int(rng.integers(lo, hi + 1))
    v = speed if rng.random() < 0.5 else -speed
    out = np.empty(frames, np.int64)
    for t in range(frames):
        out[t] = p
        q = p + v
        for _ in range(4):  # a reflection can overshoot the other end when hi - lo < speed
            if q < lo:
                q, v = 2 * lo - q, -v
            elif q > hi:
                q, v = 2 * hi - q, -v
            else:
                break
        p = min(max(q, lo), hi)
    return out


def camera_margin(w: int, h: int) -> int:
    """How far (px) a panning camera's background extends beyond each edge of a w x h frame."""
    return max(1, int(round(_PAN_MARGIN * min(w, h))))


def camera_path(rng: np.random.Generator, margin: int, frames: int) -> np.ndarray:
    """A panning camera: int (frames, 2) top-left (x, y) of the frame's window into a background
    ``2 * margin`` larger than the frame, moving 1-2 px/frame along x and 0-1 along y (each drawn
    per video), reflecting at the background's edges."""
    sx, sy = (int(rng.choice(s)) for s in _PAN_SPEEDS)
    return np.stack([_bounce_1d(rng, 0, 2 * margin, sx, frames), _bounce_1d(rng, 0, 2 * margin, sy, frames)], 1)


def _speed(rng: np.random.Generator) -> int:
    return int(rng.choice(_SPEEDS))


def _motion(cls: int, rng: np.random.Generator, w: int, h: int, frames: int) -> list[Track]:
    """Random objects and their motion for one video of class ``cls``."""
    name = CLASS_NAMES[cls]
    short = min(w, h)
    if name == "TranslateHorizontal":
        s = make_sprite(rng, short)
        xs = _bounce_1d(rng, 0, w - s.w, _speed(rng), frames)
        y = int(rng.integers(0, h - s.h + 1))
        return [_translation_track(s, np.stack([xs, np.full(frames, y)], 1))]
    if name == "TranslateVertical":
        s = make_sprite(rng, short)
        ys = _bounce_1d(rng, 0, h - s.h, _speed(rng), frames)
        x = int(rng.integers(0, w - s.w + 1))
        return [_translation_track(s, np.stack([np.full(frames, x), ys], 1))]
    if name == "Bounce":
        s = make_sprite(rng, short)
        xs = _bounce_1d(rng, 0, w - s.w, _speed(rng), frames)
        ys = _bounce_1d(rng, 0, h - s.h, _speed(rng), frames)
        return [_translation_track(s, np.stack([xs, ys], 1))]
    if name in ("Rotate", "Zoom"):
        s = make_sprite(rng, short)
        t = np.arange(frames, dtype=np.float64)
        half = 0.5 * np.hypot(s.w, s.h)  # radius of the rotated box
        if name == "Rotate":
            omega = np.rad2deg(rng.uniform(2, 4) / max(half, 1.0))  # rim speed 2-4 px/frame
            angle = rng.uniform(0, 360) + rng.choice([-1.0, 1.0]) * omega * t
            scale = np.ones(frames)
            reach_x, reach_y = half, half
        else:
            amp = rng.uniform(0.2, 0.35)
            period = rng.uniform(16, 32)
            scale = np.exp(amp * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))
            angle = np.zeros(frames)
            reach_x, reach_y = 0.5 * s.w * np.exp(amp), 0.5 * s.h * np.exp(amp)
        cx = rng.uniform(min(reach_x, w / 2), max(w - 1 - reach_x, w / 2))
        cy = rng.uniform(min(reach_y, h / 2), max(h - 1 - reach_y, h / 2))
        centre = np.tile([cx, cy], (frames, 1))
        return [Track(s, centre, angle, scale, False)]
    if name == "Circle":
        s = make_sprite(rng, short)
        rmax = max(1.0, min(w - s.w, h - s.h) / 2 - 1)
        r = rng.uniform(0.5, 1.0) * rmax
        speed = rng.uniform(2, 4)
        omega = min(speed / r, np.pi / 4) * rng.choice([-1.0, 1.0])
        phase = rng.uniform(0, 2 * np.pi) + omega * np.arange(frames)
        # centre of the circle such that the whole orbit keeps the sprite inside
        lox, hix = r + (s.w - 1) / 2, w - 1 - r - (s.w - 1) / 2
        loy, hiy = r + (s.h - 1) / 2, h - 1 - r - (s.h - 1) / 2
        ccx = rng.uniform(lox, max(lox, hix))
        ccy = rng.uniform(loy, max(loy, hiy))
        x0 = np.rint(ccx + r * np.cos(phase) - (s.w - 1) / 2)
        y0 = np.rint(ccy + r * np.sin(phase) - (s.h - 1) / 2)
        x0 = np.clip(x0, 0, w - s.w)
        y0 = np.clip(y0, 0, h - s.h)
        return [_translation_track(s, np.stack([x0, y0], 1).astype(np.int64))]
    if name == "TwoObjectsOpposite":
        ow, oh = (max(6, int(round(f * short))) for f in rng.uniform(*_OBJ_FRAC, 2))
        oh = min(oh, h // 2)
        a = make_sprite(rng, short, (ow, oh))
        b = make_sprite(rng, short, (ow, oh))
        xa = _bounce_1d(rng, 0, w - ow, _speed(rng), frames)
        xb = (w - ow) - xa  # mirror image: always the opposite velocity
        ya = int(rng.integers(0, h // 2 - oh + 1))
        yb = int(rng.integers(h // 2, h - oh + 1))
        return [
            _translation_track(a, np.stack([xa, np.full(frames, ya)], 1)),
            _translation_track(b, np.stack([xb, np.full(frames, yb)], 1)),
        ]
    if name == "Shake":
        s = make_sprite(rng, short)
        amp = int(rng.integers(2, 5))
        hx = int(rng.integers(amp, max(amp, w - s.w - amp) + 1))
        hy = int(rng.integers(amp, max(amp, h - s.h - amp) + 1))
        off = rng.integers(-amp, amp + 1, (frames, 2))
        x0 = np.clip(hx + off[:, 0], 0, w - s.w)
        y0 = np.clip(hy + off[:, 1], 0, h - s.h)
        return [_translation_track(s, np.stack([x0, y0], 1))]
    raise AssertionError(name)  # pragma: no cover

