"""Frames on the CPU (OpenCV, in DataLoader workers): JPEG decode, resize and crops.

One resize (:func:`resize_frame`: area filter when shrinking, bilinear otherwise) serves the
pretraining dataset (a fixed load size), the evaluation clips (short side, :func:`resize_short`)
and finetuning (cover then centre crop, :func:`cover_crop`); they differ only in the target size.
One JPEG decoder (:func:`vssl.io.cache.decode_jpeg`) serves them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from vssl.io.cache import decode_jpeg


def decode_frames(jpegs: Sequence, fn: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """JPEG byte arrays -> uint8 (T, H, W, 3) RGB, ``fn`` applied to each decoded (BGR) frame first
    (:func:`vssl.io.cache.decode_jpeg`)."""
    return np.stack([decode_jpeg(b, fn) for b in jpegs])


def resize_frame(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """cv2 resize of (h, w, C) to ``hw`` (area when shrinking, bilinear when growing); no-op if equal."""
    import cv2

    h, w = hw
    if img.shape[0] == h and img.shape[1] == w:
        return img
    interp = cv2.INTER_AREA if img.shape[0] >= h and img.shape[1] >= w else cv2.INTER_LINEAR
    out = cv2.resize(img, (w, h), interpolation=interp)
    if out.ndim == 2 and img.ndim == 3:  # cv2 drops a trailing channel of size 1
        out = out[..., None]
    return out


def short_side_hw(h: int, w: int, short: int) -> tuple[int, int]:
    """(H, W) of an (h, w) frame resized so that its short side is ``short`` (sides rounded)."""
    s = short / min(h, w)
    return max(short, round(h * s)), max(short, round(w * s))


def resize_short(img: np.ndarray, short: int) -> np.ndarray:
    """Resize (H, W, C) so that min(H, W) == ``short`` (area filter when shrinking)."""
    h, w = img.shape[:2]
    if min(h, w) == short:
        return img
    return resize_frame(img, short_side_hw(h, w, short))


def load_size(resize: int) -> tuple[int, int]:
    """(H, W) of finetuning frames: ``resize`` x ``round(resize * 4 / 3)`` (128 x 171)."""
    return resize, round(resize * 4 / 3)


def cover_crop(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Resize ``img`` (H, W, C) to cover (h, w) keeping its aspect ratio (sides rounded up), then centre-crop
    to (h, w)."""
    ih, iw = img.shape[:2]
    s = max(h / ih, w / iw)
    nh, nw = max(h, math.ceil(ih * s - 1e-6)), max(w, math.ceil(iw * s - 1e-6))
    img = resize_frame(img, (nh, nw))
    y, x = (nh - h) // 2, (nw - w) // 2
    return img[y:y + h, x:x + w]


def crop_offsets(h: int, w: int, crop: int, crops: int) -> list[tuple[int, int]]:
    """(top, left) of the ``crops`` (1 or 3) square crops of side ``crop`` in an (h, w) frame."""
    cy, cx = (h - crop) // 2, (w - crop) // 2
    if crops == 1:
        return [(cy, cx)]
    if w >= h:
        return [(cy, 0), (cy, cx), (cy, w - crop)]
    return [(0, cx), (cy, cx), (h - crop, cx)]


def spatial_crops(frames: np.ndarray, crop: int, crops: int) -> np.ndarray:
    """(T, H, W, C) -> (crops, T, crop, crop, C)."""
    _, h, w, _ = frames.shape
    return np.stack([frames[:, y:y + crop, x:x + crop] for y, x in crop_offsets(h, w, crop, crops)])


class FrameCache:
    """A bounded least-recently-used store of decoded, resized frames, one per process.

    A short run over a small dataset (the demo preset: 300 steps over a hundred short videos, 50
    epochs) decodes each frame dozens of times; kept here it is decoded once. Frames are stored
    read-only (a caller that writes into one gets an error, not a silently changed cache) and
    evicted oldest-first past ``max_mb``. Pickling (a DataLoader worker started by spawn) gives an
    empty store with the same budget: each worker fills its own, so the budget is per process.
    ``max_mb <= 0`` stores nothing.
    """

    def __init__(self, max_mb: float = 0.0) -> None:
        from collections import OrderedDict

        self.max_mb = float(max_mb)
        self.max_bytes = int(max(0.0, self.max_mb) * 2**20)
        self._items: OrderedDict = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0

    def __bool__(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._items)

    def __getstate__(self) -> dict:
        return {"max_mb": self.max_mb}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["max_mb"])

    def get(self, key) -> np.ndarray | None:
        img = self._items.get(key)
        if img is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return img

    def get_or_load(self, key, load) -> np.ndarray:
        """The stored ``key``, else ``load()`` stored (and returned) under it; ``load()`` alone when
        the store is off."""
        if not self:
            return load()
        img = self.get(key)
        return self.put(key, load()) if img is None else img

    def put(self, key, img: np.ndarray) -> np.ndarray:
        """Store ``img`` (made read-only; a view is copied first) and return what is stored."""
        if not self or img.nbytes > self.max_bytes:
            return img
        if img.base is not None:
            img = img.copy()
        img.flags.writeable = False
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
        self._items[key] = img
        self.bytes += img.nbytes
        while self.bytes > self.max_bytes:
            _, out = self._items.popitem(last=False)
            self.bytes -= out.nbytes
        return img
