"""One decoded frame, the common output of the decoders, and its images (rotation, BGR conversion, stored size)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vssl.io import schema
from vssl.io.video.probe import _av, open_video

PICT_TYPES = {1: "I", 2: "P", 3: "B"}


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
