"""Compiled rasteriser of exported motion vectors (numba), with the numpy one as fallback.

:func:`rasterise_int16` gives exactly the values of
:func:`vssl.io.h264.rasterise_batch_int16` (same float32 arithmetic, same rounding;
``tests/io/test_mvraster.py`` checks it on synthetic and real vectors) in one pass
over the blocks, compiled by numba. The numpy version costs about 80 us per frame on
320x240 B-frame streams, a fifth of the decoder's own time; this one about 10 us.

Without numba (or with ``VSSL_NO_JIT=1``, or if compiling fails) the numpy version is
used. numba compiles the kernel once per array layout (a few seconds) and caches it
(``vssl/io/__pycache__``, or ``NUMBA_CACHE_DIR``); :func:`warm_up` does that in the
main process so that extract's workers all find it cached.
"""

from __future__ import annotations

import os
import sys

import numpy as np

_KERNEL: list = []  # [callable or None], resolved on first use


def _build_kernel():
    if os.environ.get("VSSL_NO_JIT") or sys.byteorder != "little":
        return None
    try:
        from vssl.io._mvraster_jit import paint
    except Exception as e:  # no numba, or numba cannot cache/compile here: numpy it is
        _warn(f"compiled rasteriser unavailable ({type(e).__name__}: {e}); using the numpy one")
        return None
    return paint


def _warn(msg: str) -> None:
    import warnings

    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) for both decoders' layouts."""
    from vssl.io import h264

    if kernel() is None:
        return
    for mvs in (np.zeros((1, len(h264.MVX_COLUMNS)), np.int32), np.zeros(1, h264.PYAV_MV_DTYPE)):
        rasterise_int16([(mvs, 1, 1)], (1, 1))


def kernel():
    """The compiled kernel, or None when numba is missing or disabled."""
    if not _KERNEL:
        _KERNEL.append(_build_kernel())
    return _KERNEL[0]


def rasterise_int16(frames: list[tuple[np.ndarray | None, int, int]], grid_hw: tuple[int, int]) -> np.ndarray:
    """Same contract and values as :func:`vssl.io.h264.rasterise_batch_int16`."""
    from vssl.io import h264

    paint = kernel()
    if paint is None:
        return h264.rasterise_batch_int16(frames, grid_hw)
    gh, gw = grid_hw
    nf = len(frames)
    parts, counts = [], np.zeros(nf + 1, np.int64)
    pd = np.ones(nf, np.int64)
    fd = np.ones(nf, np.int64)
    for i, (mvs, p, f) in enumerate(frames):
        pd[i], fd[i] = max(p, 1), max(f, 1)
        if mvs is None or len(mvs) == 0:
            continue
        parts.append(mvs)
        counts[i + 1] = len(mvs)
    out = np.empty((nf, gh, gw, 2), np.int16)
    if not parts:
        out[:] = 0
        return out
    try:
        paint(*_columns(parts), np.cumsum(counts), pd, fd, out.view(np.int32).reshape(nf, gh, gw))
    except Exception as e:  # a numba typing/compile failure on this platform or layout
        if isinstance(e, (MemoryError, KeyboardInterrupt)):
            raise
        _KERNEL[0] = None
        _warn(f"compiled rasteriser failed ({type(e).__name__}); using the numpy one")
        return h264.rasterise_batch_int16(frames, grid_hw)
    return out


def _columns(parts: list[np.ndarray]) -> list[np.ndarray]:
    """The :data:`~vssl.io.h264.MV_FIELDS` columns of the concatenated vector arrays, as
    views (no per-column copy) when all parts have one layout."""
    from vssl.io import h264

    first = parts[0]
    dt = first.dtype
    same = all(a.dtype is dt or a.dtype == dt for a in parts) and all(a.shape[1:] == first.shape[1:] for a in parts)
    if same and dt.names and all(a.flags.c_contiguous for a in parts):  # PyAV's structured AVMotionVector arrays
        # concatenated as raw bytes: numpy's concatenate of structured arrays promotes
        # the fields of every part (~50 us each)
        raw = np.frombuffer(b"".join([a.data for a in parts]), dt)
        return [raw[k] for k in h264.MV_FIELDS]
    if same and first.ndim == 2 and first.shape[1] == len(h264.MVX_COLUMNS) and first.dtype.kind == "i":
        rows = np.concatenate(parts)  # mvextractor's (N, 10)
        return [rows[:, j] for j in h264._MVX_SELECT]
    rows = np.concatenate([h264._as_columns(a) for a in parts])
    return [rows[:, j] for j in range(rows.shape[1])]
