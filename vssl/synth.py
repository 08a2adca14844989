"""A small synthetic H.264 dataset with known motion and a built-in scene bias.

``make_synth(OUT)`` writes a labelled, UCF101-style dataset of short clips.
Each class is a *motion pattern* of one or two textured objects over a static,
textured background:

=====================  ======================================================
class                  motion
=====================  ======================================================
TranslateHorizontal    one object, constant integer speed 2-4 px/frame along
                       x, bouncing off the image border
TranslateVertical      the same along y
Rotate                 one object rotating in place (2-4 px/frame at its rim)
Zoom                   one object scaling in and out around a fixed centre
Circle                 the object's centre moves on a circle (integer steps)
Bounce                 diagonal motion, bouncing off all four walls
TwoObjectsOpposite     two objects (top and bottom half) moving horizontally
                       in mirrored, opposite directions
Shake                  one object jittering by random integer steps
=====================  ======================================================

Every video draws its background from one *background family* (stripes,
checkerboard, smooth noise, ...; random parameters and colours within the
family). How the family relates to the class is the *bias regime* (``bias``):

* ``"class"`` (default): in the **train** split the family index equals the
  class index (with probability ``bias_strength``, 1 by default; otherwise a
  uniformly drawn other family), so the background alone predicts the label;
  in the **test** split each video gets another class's family, so it does
  not. A model that learned the scene rather than the motion does well on
  train and below chance on test. Measures debiasing.
* ``"none"``: the family is drawn uniformly from all families, independently
  of the class, in every split. The background carries no label information:
  measures motion learning without the shortcut.

The family draw and the background image use their own random streams
(``[seed, c, i, 1]`` and ``[seed, c, i, 2]``), so the two regimes give the same
objects and motion for the same video and differ only in the background.

Layout of ``OUT`` (readable by ``vssl extract OUT`` as a dataset root)::

    OUT/<Class>/v_<Class>_g<BB>_c<CC>.mp4     BB = background family + 1, CC = video + 1
    OUT/classInd.txt                          "1 TranslateHorizontal" (1-based)
    OUT/trainlist01.txt                       "<Class>/<file>.mp4 <label+1>"
    OUT/testlist01.txt                        "<Class>/<file>.mp4"
    OUT/_groundtruth/<Class>/<stem>.npz       exact per-frame ground truth
    OUT/synth.json                            parameters and one record per video

Ground truth (``.npz``; T frames, N objects, H x W pixels)::

    masks              bool    (T, H, W)     union of all objects' pixels per frame
    velocity           float32 (T, N, 2)     (dx, dy) of each object's centre, t-1 -> t; row 0 = 0
    translating        bool    (N,)          pure translation: every pixel moves by ``velocity``
    boxes              int32   (T, N, 4)     x0, y0, x1, y1 (x1, y1 exclusive) of each object's pixels
    centres            float32 (T, N, 2)     (x, y) centre; pixel (i, j) has its centre at (j, i)
    angle              float32 (T, N)        rotation in degrees (counter-clockwise on screen)
    scale              float32 (T, N)        scale factor (1 = drawn size)
    label              int64   ()            0-based class index
    background_family  int64   ()            0-based background family index

Translating objects are pasted at integer positions, so their motion is exact.
Objects never overlap each other and stay inside the frame (rotated/zoomed
ones may touch the border).

Encoding: libx264, yuv420p, mp4, constant frame rate, a fixed GOP (IDR every
``gop`` frames, no scene-cut keyframes), one reference frame, ``bframes``
B-frames between anchors placed every time (no adaptive B decision) and no
B-pyramid, an exhaustive motion search so that the stream's motion vectors follow
the ground truth (see :func:`x264_params`). The encoder runs single-threaded and
without mb-tree rate control: the same seed gives byte-identical files (mp4 and
npz) with the same FFmpeg/x264 build (the mp4 records the libavformat version).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vssl.io.manifest import atomic_write_bytes

CLASS_NAMES: tuple[str, ...] = (
    "TranslateHorizontal",
    "TranslateVertical",
    "Rotate",
    "Zoom",
    "Circle",
    "Bounce",
    "TwoObjectsOpposite",
    "Shake",
)
BACKGROUND_FAMILIES: tuple[str, ...] = (
    "stripes",
    "checker",
    "smooth_noise",
    "dots",
    "gradient_grid",
    "rings",
    "plaid",
    "speckle",
)
MAX_CLASSES = len(CLASS_NAMES)
MIN_SIDE = 32
SYNTH_VERSION = 2  # 2: background family and image drawn from their own streams (bias regimes)
GROUNDTRUTH_DIR = "_groundtruth"
META_FILE = "synth.json"
DEFAULT_CRF = 18
DEFAULT_PRESET = "fast"

_OBJ_FRAC = (0.20, 0.35)  # object side as a fraction of the image's short side
_SPEEDS = (2, 3, 4)  # integer px/frame of the translation classes


# --------------------------------------------------------------------------- encoding


def x264_params(gop: int, bframes: int) -> str:
    """The ``x264-params`` string used for every synthetic video.

    Besides the fixed GOP, one reference frame and non-adaptive B-frames without a
    pyramid, it asks for an exhaustive motion search (``me=esa``) and temporal direct
    prediction in B-frames: on these clips that makes the exported motion vectors
    match the ground truth (P-frames: ~99.8% of the blocks inside translating objects
    within 0.5 px, against ~75% with the ``fast`` preset's hexagon search; B-frames
    ~87% against ~70% with spatial direct) at about twice the encoding time.
    ``mbtree=0``: with B-frames, x264's macroblock-tree rate control gives a slightly
    different bitstream from run to run (even single-threaded, on identical input);
    without it the output is byte-identical.

    Args:
        gop: keyframe interval in frames (an IDR every ``gop`` frames, nothing else).
        bframes: number of consecutive B-frames between anchors (0 = none).

    Returns:
        A colon-separated x264 option string, e.g. ``keyint=12:min-keyint=12:scenecut=0:
        ref=1:bframes=2:b-adapt=0:b-pyramid=none:open-gop=0:me=esa:merange=16:direct=temporal:mbtree=0``.
        (x264 clamps ``min-keyint`` to ``keyint/2+1``; with ``scenecut=0`` that does not
        matter: keyframes come exactly every ``gop`` frames.)
    """
    return (
        f"keyint={gop}:min-keyint={gop}:scenecut=0:ref=1:bframes={bframes}"
        f":b-adapt=0:b-pyramid=none:open-gop=0:me=esa:merange=16:direct=temporal:mbtree=0"
    )


def encode_h264(
    frames: np.ndarray,
    path: Path,
    *,
    fps: int = 25,
    gop: int = 12,
    bframes: int = 2,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
) -> None:
    """Encode RGB frames to an H.264 mp4, deterministically.

    The file is written to ``path`` + ``.partial`` and renamed when complete.

    Args:
        frames: uint8 (T, H, W, 3) RGB; H and W must be even (yuv420p).
        path: output ``.mp4`` path (parent must exist).
        fps: constant frame rate.
        gop: keyframe interval (frames).
        bframes: B-frames between anchors.
        crf: x264 constant rate factor (lower = better quality).
        preset: x264 preset.

    Raises:
        ValueError: on odd frame size or a wrong array shape/dtype.
    """
    import av  # lazy: keeps `import vssl.synth` light

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, h, w, _ = frames.shape
    if w % 2 or h % 2:
        raise ValueError(f"libx264 with yuv420p needs an even width and height, got {w}x{h}")
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    container = av.open(str(tmp), mode="w", format="mp4")
    try:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # One thread: x264's frame threading makes the bitstream depend on scheduling.
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": x264_params(gop, bframes)}
        for t, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts = t
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    container.close()
    tmp.replace(path)


def save_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but byte-identical for identical inputs.

    ``np.savez*`` stamps each zip member with the current time; this writes the
    members in the given order with a fixed timestamp. ``np.load`` reads the result.

    Args:
        path: output ``.npz`` path (written atomically).
        **arrays: name -> array (any dtype numpy can save without pickling).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    atomic_write_bytes(Path(path), buf.getvalue())


# --------------------------------------------------------------------------- colours & textures


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


# --------------------------------------------------------------------------- motion


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


# --------------------------------------------------------------------------- rendering


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
    background: np.ndarray, tracks: list[Track]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite the objects over the static background, frame by frame.

    Args:
        background: uint8 (H, W, 3).
        tracks: N objects (drawn in order; later ones on top).

    Returns:
        frames: uint8 (T, H, W, 3) RGB.
        masks: bool (T, H, W) union of the objects.
        boxes: int32 (T, N, 4) x0, y0, x1, y1 (exclusive) of each object's pixels
            (all zero where an object has no pixel).
    """
    t_len = len(tracks[0].centre)
    h, w = background.shape[:2]
    frames = np.empty((t_len, h, w, 3), np.uint8)
    masks = np.zeros((t_len, h, w), bool)
    boxes = np.zeros((t_len, len(tracks), 4), np.int32)
    for t in range(t_len):
        frame = frames[t]
        frame[:] = background
        for k, tr in enumerate(tracks):
            m = _draw(frame, tr, t)
            masks[t] |= m
            cols = np.flatnonzero(m.any(0))
            rows = np.flatnonzero(m.any(1))
            if len(cols):
                boxes[t, k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return frames, masks, boxes


# --------------------------------------------------------------------------- dataset


def _check_args(
    classes, videos_per_class, size, frames, fps, gop, bframes, test_fraction, seed
) -> tuple[int, int]:
    """Validate :func:`make_synth`'s arguments; return (width, height). Raises ValueError."""

    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(classes) or not 2 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be an integer from 2 to {MAX_CLASSES}, got {classes!r}")
    if not is_int(videos_per_class) or videos_per_class < 1:
        raise ValueError(f"videos_per_class must be a positive integer, got {videos_per_class!r}")
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ValueError(f"size must be at least {MIN_SIDE}x{MIN_SIDE}, got {w}x{h}")
    if w % 2 or h % 2:
        raise ValueError(f"size must have an even width and height (libx264, yuv420p), got {w}x{h}")
    if not is_int(frames) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    if not is_int(fps) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    if not is_int(gop) or gop < 1:
        raise ValueError(f"gop must be a positive integer, got {gop!r}")
    if not is_int(bframes) or not 0 <= bframes <= 16:
        raise ValueError(f"bframes must be an integer from 0 to 16, got {bframes!r}")
    try:
        tf_ok = 0.0 <= float(test_fraction) < 1.0
    except (TypeError, ValueError):
        tf_ok = False
    if not tf_ok:
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return w, h


BIAS_REGIMES = ("class", "none")


def check_bias(bias, bias_strength) -> None:
    """ValueError (one line) unless ``bias`` is a regime and ``bias_strength`` a probability."""
    if bias not in BIAS_REGIMES:
        raise ValueError(f"bias must be one of {', '.join(BIAS_REGIMES)}, got {bias!r}")
    try:
        ok = 0.0 <= float(bias_strength) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"bias_strength must be a number in [0, 1], got {bias_strength!r}")
    if bias == "none" and float(bias_strength) != 1.0:
        raise ValueError("bias_strength applies to bias 'class' only (with 'none' the background is independent)")


def background_family(c: int, split: str, classes: int, bias: str, strength: float, rng: np.random.Generator) -> int:
    """The background family of a video of class ``c`` in ``split`` (see the module docstring)."""
    if bias == "none":
        return int(rng.integers(classes))
    if split == "test":  # any family but the class's own
        return (c + 1 + int(rng.integers(classes - 1))) % classes
    if strength >= 1.0 or rng.random() < strength:
        return c
    return (c + 1 + int(rng.integers(classes - 1))) % classes


def n_test_videos(videos_per_class: int, test_fraction: float) -> int:
    """How many of a class's videos go to test: round(v * f), at least 1 if f > 0, at most v - 1."""
    n = int(round(videos_per_class * test_fraction))
    if test_fraction > 0:
        n = max(n, 1)
    return max(0, min(n, videos_per_class - 1))


def video_stem(class_name: str, background_family: int, index: int) -> str:
    """``v_<Class>_g<BB>_c<CC>``: BB = background family + 1, CC = video index + 1 (2+ digits)."""
    return f"v_{class_name}_g{background_family + 1:02d}_c{index + 1:02d}"


def make_synth(
    out: Path,
    *,
    classes: int = 6,
    videos_per_class: int = 12,
    size: tuple[int, int] = (160, 120),
    frames: int = 64,
    seed: int = 0,
    fps: int = 25,
    gop: int = 12,
    bframes: int = 2,
    test_fraction: float = 1 / 3,
    bias: str = "class",
    bias_strength: float = 1.0,
    progress: bool = True,
) -> dict:
    """Write the synthetic scene-bias dataset to ``out`` (see the module docstring).

    Video ``i`` of class ``c`` is generated from ``np.random.default_rng([seed, c, i])`` (and
    ``[seed, c, i, 1]``, ``[seed, c, i, 2]`` for its background family and image)
    alone, so one video does not depend on the others or on ``classes``. Its last
    ``n_test_videos(videos_per_class, test_fraction)`` videos per class are the test split.
    Existing files of the same names are replaced; other files in ``out`` are left alone.

    Args:
        out: dataset root (created if missing).
        classes: number of motion classes, 2 to 8 (the first ``classes`` of :data:`CLASS_NAMES`).
        videos_per_class: videos per class (train + test).
        size: (width, height), both even and >= 32.
        frames: frames per video (>= 2).
        seed: random seed; the same seed gives byte-identical files.
        fps: constant frame rate of the mp4s.
        gop: keyframe interval.
        bframes: B-frames between anchors (0 = I/P only).
        test_fraction: share of each class's videos in the test split, in [0, 1).
        bias: ``"class"`` (train background family follows the class, test families are
            another class's) or ``"none"`` (family independent of the class everywhere).
        bias_strength: ``"class"`` only: probability that a train video wears its
            class's family (1 = always; 1 / classes = no more than chance).
        progress: show a rich progress bar.

    Returns:
        Summary dict: ``root``, ``classes`` (names), ``background_families`` (names),
        ``n_videos``, ``n_train``, ``n_test``, ``class_index``, ``trainlist``, ``testlist``,
        ``groundtruth`` and ``meta`` (absolute paths as str), ``seconds`` (wall time).

    Raises:
        ValueError: on a bad argument (e.g. classes outside 2..8, an odd width or height).
    """
    w, h = _check_args(classes, videos_per_class, size, frames, fps, gop, bframes, test_fraction, seed)
    check_bias(bias, bias_strength)
    bias_strength = float(bias_strength)
    classes, videos_per_class, frames = int(classes), int(videos_per_class), int(frames)
    fps, gop, bframes, seed = int(fps), int(gop), int(bframes), int(seed)
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(CLASS_NAMES[:classes])
    families = list(BACKGROUND_FAMILIES[:classes])
    n_test = n_test_videos(videos_per_class, test_fraction)
    jobs = [(c, i) for c in range(classes) for i in range(videos_per_class)]

    records: list[dict] = []
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )
        bar.start()
        task = bar.add_task("synth videos", total=len(jobs))
    try:
        for c, i in jobs:
            rng = np.random.default_rng([seed, c, i])
            split = "test" if i >= videos_per_class - n_test else "train"
            fam = background_family(c, split, classes, bias, bias_strength, np.random.default_rng([seed, c, i, 1]))
            stem = video_stem(names[c], fam, i)
            rel = f"{names[c]}/{stem}.mp4"
            gt_rel = f"{GROUNDTRUTH_DIR}/{names[c]}/{stem}.npz"
            background = make_background(fam, np.random.default_rng([seed, c, i, 2]), w, h)
            tracks = _motion(c, rng, w, h, frames)
            video, masks, boxes = render_video(background, tracks)
            (out / names[c]).mkdir(exist_ok=True)
            (out / GROUNDTRUTH_DIR / names[c]).mkdir(parents=True, exist_ok=True)
            encode_h264(video, out / rel, fps=fps, gop=gop, bframes=bframes)
            centres = np.stack([tr.centre for tr in tracks], 1)  # (T, N, 2)
            velocity = np.zeros_like(centres)
            velocity[1:] = centres[1:] - centres[:-1]
            save_npz_deterministic(
                out / gt_rel,
                masks=masks,
                velocity=velocity.astype(np.float32),
                translating=np.array([tr.translating for tr in tracks], bool),
                boxes=boxes,
                centres=centres.astype(np.float32),
                angle=np.stack([tr.angle for tr in tracks], 1).astype(np.float32),
                scale=np.stack([tr.scale for tr in tracks], 1).astype(np.float32),
                label=np.int64(c),
                background_family=np.int64(fam),
            )
            records.append(
                {
                    "path": rel,
                    "class": names[c],
                    "label": c,
                    "background_family": fam,
                    "background_name": families[fam],
                    "split": split,
                    "groundtruth": gt_rel,
                    "n_objects": len(tracks),
                    "translating": [tr.translating for tr in tracks],
                    "objects": [{"texture": tr.sprite.texture, "shape": tr.sprite.shape} for tr in tracks],
                }
            )
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()

    class_ind = out / "classInd.txt"
    trainlist = out / "trainlist01.txt"
    testlist = out / "testlist01.txt"
    atomic_write_bytes(class_ind, "".join(f"{k + 1} {n}\n" for k, n in enumerate(names)).encode())
    train_lines = [f"{r['path']} {r['label'] + 1}\n" for r in records if r["split"] == "train"]
    atomic_write_bytes(trainlist, "".join(train_lines).encode())
    atomic_write_bytes(testlist, "".join(f"{r['path']}\n" for r in records if r["split"] == "test").encode())
    meta = {
        "format": "vssl-synth",
        "version": SYNTH_VERSION,
        "params": {
            "classes": classes,
            "videos_per_class": videos_per_class,
            "size": [w, h],
            "frames": frames,
            "seed": seed,
            "fps": fps,
            "gop": gop,
            "bframes": bframes,
            "test_fraction": float(test_fraction),
            "bias": bias,
            "bias_strength": bias_strength,
            "codec": "libx264",
            "pix_fmt": "yuv420p",
            "crf": DEFAULT_CRF,
            "preset": DEFAULT_PRESET,
            "x264_params": x264_params(gop, bframes),
        },
        "class_names": names,
        "background_families": families,
        "videos": records,
    }
    meta_path = out / META_FILE
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1).encode("utf-8"))
    n_tr = sum(r["split"] == "train" for r in records)
    return {
        "root": str(out.resolve()),
        "classes": names,
        "background_families": families,
        "n_videos": len(records),
        "n_train": n_tr,
        "n_test": len(records) - n_tr,
        "class_index": str(class_ind.resolve()),
        "trainlist": str(trainlist.resolve()),
        "testlist": str(testlist.resolve()),
        "groundtruth": str((out / GROUNDTRUTH_DIR).resolve()),
        "meta": str(meta_path.resolve()),
        "seconds": round(time.perf_counter() - t0, 3),
    }
