"""Backgrounds (one generator per family), object textures and shapes: :class:`Sprite`."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vssl.synth.spec import BACKGROUND_FAMILIES, _OBJ_FRAC



def _contrast_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark and a bright colour (float32 (3,), 0-255), random order: high contrast."""
    dark = rng.uniform(0, 80, 3)
    bright = rng.uniform(175, 255, 3)
    return (dark, bright) if rng.random() < 0.5 else (bright, dark)


def _soft_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two colours (float32 (3,)) of moderate contrast for backgrounds."""
    c1 = rng.uniform(40, 215, 3)
    delta = rng.uniform(45, 90, 3) * rng.choice([-1.0, 1.0], 3)
    c2 = np.clip(c1 + delta, 0, 255)
    return c1, c2


def _blend(t: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Per-pixel mix: t float (H, W) in [0, 1] -> float32 (H, W, 3) between c1 and c2."""
    t = t[..., None].astype(np.float32)
    return (1.0 - t) * c1.astype(np.float32) + t * c2.astype(np.float32)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates: (ys, xs) float32 (H, W)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return ys.astype(np.float32), xs.astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Low-frequency noise, float32 (H, W) normalised to [0, 1]; ``cell`` = feature size (px)."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 2), max(2, int(np.ceil(w / cell)) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(small, (w + 2 * int(cell), h + 2 * int(cell)), interpolation=cv2.INTER_CUBIC)
    oy, ox = int(cell) // 2, int(cell) // 2
    out = big[oy : oy + h, ox : ox + w]
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def make_background(family: int, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """One static background image of a family, with random parameters and colours.

    Args:
        family: 0-based index into :data:`BACKGROUND_FAMILIES`.
        rng: random generator (consumed).
        w, h: image size in pixels.

    Returns:
        uint8 (H, W, 3) RGB.
    """
    name = BACKGROUND_FAMILIES[family]
    ys, xs = _grid(h, w)
    c1, c2 = _soft_pair(rng)
    if name == "stripes":
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(6, 16)
        u = xs * np.cos(theta) + ys * np.sin(theta)
        t = np.clip(0.5 + 1.5 * np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi)), 0, 1)
        img = _blend(t, c1, c2)
    elif name == "checker":
        theta = np.deg2rad(rng.uniform(-30, 30))
        cell = rng.uniform(6, 14)
        u = xs * np.cos(theta) + ys * np.sin(theta) + rng.uniform(0, cell)
        v = -xs * np.sin(theta) + ys * np.cos(theta) + rng.uniform(0, cell)
        t = (np.floor(u / cell) + np.floor(v / cell)) % 2
        img = _blend(t, c1, c2)
    elif name == "smooth_noise":
        c3 = rng.uniform(40, 215, 3)
        t = _smooth_noise(rng, h, w, rng.uniform(10, 24))
        img = np.where(t[..., None] < 0.5, _blend(t * 2, c1, c3), _blend(t * 2 - 1, c3, c2))
    elif name == "dots":
        sp = rng.uniform(8, 16)
        r = rng.uniform(1.5, min(4.0, sp / 3))
        ox, oy = rng.uniform(0, sp, 2)
        dx = (xs + ox) % sp - sp / 2
        dy = (ys + oy) % sp - sp / 2
        t = np.clip(r + 0.5 - np.sqrt(dx * dx + dy * dy), 0, 1)
        img = _blend(t, c1, c2)
    elif name == "gradient_grid":
        theta = rng.uniform(0, 2 * np.pi)
        u = xs * np.cos(theta) + ys * np.sin(theta)
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
        img = _blend(t, c1, c2)
        g = int(rng.integers(8, 21))
        thick = int(rng.integers(1, 3))
        ox, oy = (int(v) for v in rng.integers(0, g, 2))
        line = (((xs.astype(np.int32) + ox) % g) < thick) | (((ys.astype(np.int32) + oy) % g) < thick)
        c3 = np.where(c1.mean() + c2.mean() > 255, rng.uniform(0, 60, 3), rng.uniform(195, 255, 3))
        img[line] = c3.astype(np.float32)
    elif name == "rings":
        cx = rng.uniform(-0.5 * w, 1.5 * w)
        cy = rng.uniform(-0.5 * h, 1.5 * h)
        period = rng.uniform(6, 16)
        rad = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
        t = np.clip(0.5 + 1.5 * np.sin(2 * np.pi * rad / period), 0, 1)
        img = _blend(t, c1, c2)
    elif name == "plaid":
        c3 = rng.uniform(40, 215, 3)
        theta = rng.uniform(0, np.pi / 2)
        p1, p2 = rng.uniform(8, 20, 2)
        u = xs * np.cos(theta) + ys * np.sin(theta)
        v = -xs * np.sin(theta) + ys * np.cos(theta)
        a = 0.5 + 0.5 * np.sin(2 * np.pi * u / p1)
        b = 0.5 + 0.5 * np.sin(2 * np.pi * v / p2)
        img = 0.5 * _blend(a, c1, c2) + 0.5 * _blend(b, c1, c3)
    elif name == "speckle":
        img = np.empty((h, w, 3), np.float32)
        img[:] = c1.astype(np.float32)
        palette = np.stack([c2, rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)]).astype(np.float32)
        n = int(w * h / rng.uniform(40, 80))
        x0 = rng.integers(0, w, n)
        y0 = rng.integers(0, h, n)
        sw = rng.integers(1, 4, n)
        sh = rng.integers(1, 4, n)
        col = rng.integers(0, len(palette), n)
        for i in range(n):  # a few hundred tiny rectangles: cheap
            img[y0[i] : y0[i] + sh[i], x0[i] : x0[i] + sw[i]] = palette[col[i]]
    else:  # pragma: no cover - the tuple and the branches are kept in step
        raise AssertionError(name)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


TEXTURES: tuple[str, ...] = ("checker", "blocks", "blobs", "noise")
SHAPES: tuple[str, ...] = ("rectangle", "ellipse", "diamond", "octagon")


def _texture(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, str]:
    """A high-contrast object texture: (uint8 (h, w, 3), name in :data:`TEXTURES`)."""
    kind = int(rng.integers(len(TEXTURES)))
    c1, c2 = _contrast_pair(rng)
    if kind == 0:  # checkerboard overlaid with fine noise: a periodic pattern alone misleads block matching
        cell = int(rng.integers(4, 8))
        ys, xs = np.mgrid[0:h, 0:w]
        parity = ((ys // cell + xs // cell) % 2).astype(np.float32)
        fine = np.repeat(np.repeat(rng.random((h // 2 + 1, w // 2 + 1)), 2, 0), 2, 1)[:h, :w]
        img = _blend(0.65 * parity + 0.35 * fine.astype(np.float32), c1, c2)
    elif kind == 1:  # coarse random blocks of three colours
        cell = int(rng.integers(3, 6))
        c3 = rng.uniform(0, 255, 3)
        cols = np.stack([c1, c2, c3]).astype(np.float32)
        idx = rng.integers(0, 3, (h // cell + 1, w // cell + 1))
        idx = np.repeat(np.repeat(idx, cell, 0), cell, 1)[:h, :w]
        img = cols[idx]
    elif kind == 2:  # thresholded blobs
        t = _smooth_noise(rng, h, w, rng.uniform(3, 6))
        img = _blend((t > np.median(t)).astype(np.float32), c1, c2)
    else:  # 2x2-pixel binary noise
        idx = rng.integers(0, 2, (h // 2 + 1, w // 2 + 1)).astype(np.float32)
        t = np.repeat(np.repeat(idx, 2, 0), 2, 1)[:h, :w]
        img = _blend(t, c1, c2)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), TEXTURES[kind]


def _shape_alpha(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, str]:
    """A filled shape touching all four sides of its box: (bool (h, w), name in :data:`SHAPES`)."""
    kind = int(rng.integers(len(SHAPES)))
    a = np.zeros((h, w), np.uint8)
    if kind == 0:  # rectangle
        a[:] = 1
    elif kind == 1:  # ellipse
        ys, xs = np.mgrid[0:h, 0:w]
        a[((xs - (w - 1) / 2) / (w / 2)) ** 2 + ((ys - (h - 1) / 2) / (h / 2)) ** 2 <= 1.0] = 1
    elif kind == 2:  # diamond
        pts = np.array([[w // 2, 0], [w - 1, h // 2], [w // 2, h - 1], [0, h // 2]], np.int32)
        cv2.fillPoly(a, [pts], 1)
    else:  # rectangle with cut corners
        k = max(1, min(w, h) // 4)
        pts = np.array(
            [
                [k, 0], [w - 1 - k, 0], [w - 1, k], [w - 1, h - 1 - k],
                [w - 1 - k, h - 1], [k, h - 1], [0, h - 1 - k], [0, k],
            ],
            np.int32,
        )
        cv2.fillPoly(a, [pts], 1)
    return a.astype(bool), SHAPES[kind]


@dataclass
class Sprite:
    """A textured object at its drawn size.

    Attributes:
        rgb: uint8 (h, w, 3) texture (fills the whole box).
        alpha: bool (h, w) the object's shape.
        texture: texture name (:data:`TEXTURES`).
        shape: shape name (:data:`SHAPES`).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    texture: str = ""
    shape: str = ""

    @property
    def w(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def h(self) -> int:
        return int(self.rgb.shape[0])


def make_sprite(rng: np.random.Generator, short: int, size: tuple[int, int] | None = None) -> Sprite:
    """A random textured object with sides ~20-35% of ``short`` (or exactly ``size`` = (w, h))."""
    if size is None:
        w, h = (max(6, int(round(f * short))) for f in rng.uniform(*_OBJ_FRAC, 2))
    else:
        w, h = size
    rgb, texture = _texture(rng, w, h)
    alpha, shape = _shape_alpha(rng, w, h)
    return Sprite(rgb, alpha, texture, shape)

