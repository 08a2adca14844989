"""Exported motion vectors -> the cache's dense motion field.

Each exported vector (FFmpeg's ``export_mvs`` side data, or an mvextractor row) covers a
block (``w x h`` pixels centred at ``dst``) of the current frame and says where it came
from in a reference frame: ``src = dst + motion / scale``. :func:`rasterise_batch` (numpy,
the reference) turns a batch of frames' vectors into the cache's field (see
``vssl.io.schema``): forward motion per frame, quarter-pel, 4x4-pixel cells;
:func:`rasterise_int16` gives exactly the values of :func:`rasterise_batch_int16` (same
float32 arithmetic, same rounding; ``tests/io/test_mv_raster.py`` checks it on synthetic and
real vectors) in one pass over the blocks, compiled by numba (:mod:`vssl.io.mv._jit`). The
numpy version costs about 80 us per frame on 320x240 B-frame streams, a fifth of the
decoder's own time; the compiled one about 10 us.

Without numba (or with ``VSSL_NO_JIT=1``, or if compiling fails) the numpy version is
used. numba compiles the kernel once per array layout (a few seconds) and caches it
(``vssl/io/mv/__pycache__``, or ``NUMBA_CACHE_DIR``); :func:`warm_up` does that in the
main process so that extract's workers all find it cached.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from vssl.io import schema

# Column order of mvextractor's (N, 10) vector arrays.
MVX_COLUMNS = ("source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")


# PyAV's MotionVectors.to_ndarray() dtype (FFmpeg's AVMotionVector)
PYAV_MV_DTYPE = np.dtype({
    "names": ["source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "flags", "motion_x", "motion_y", "motion_scale"],
    "formats": ["<i4", "u1", "u1", "<i2", "<i2", "<i2", "<i2", "<u8", "<i4", "<i4", "<u2"],
    "offsets": [0, 4, 5, 6, 8, 10, 12, 16, 24, 28, 32], "itemsize": 40, "aligned": True,
})


# The fields the rasteriser uses, and where they sit in an mvextractor row.
MV_FIELDS = ("source", "w", "h", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")


_MVX_SELECT = [MVX_COLUMNS.index(k) for k in MV_FIELDS]


def mv_columns(mvs: np.ndarray) -> tuple[np.ndarray, ...]:
    """The :data:`MV_FIELDS` columns from either a PyAV structured ``AVMotionVector``
    array or an mvextractor ``(N, 10)`` integer array."""
    if mvs.dtype.names:
        return tuple(mvs[k] for k in MV_FIELDS)
    m = mvs.T
    return tuple(m[i] for i in _MVX_SELECT)


def _as_columns(mvs: np.ndarray) -> np.ndarray:
    """(N, 8) int64: source, w, h, dst_x, dst_y, motion_x, motion_y, motion_scale."""
    if mvs.dtype.names:
        return np.stack([np.asarray(c, np.int64) for c in mv_columns(mvs)], 1)
    return mvs[:, _MVX_SELECT].astype(np.int64, copy=False)


def _rasterise_coarse(frames, grid_hw):
    """The work of :func:`rasterise_batch` on the coarsest aligned grid.

    Returns ``(gx, gy, (nf, uh, uw, r))``: float32 flat ``(nf * uh * uw,)`` per
    component, the grid in cells of ``r x r`` 4x4-cells; None for gx/gy when no frame
    has vectors.
    """
    gh, gw = grid_hw
    nf = len(frames)
    parts, counts, pd, fd, slots = [], [], [], [], []
    for i, (mvs, p, f) in enumerate(frames):
        if mvs is None or len(mvs) == 0:
            continue
        parts.append(mvs)
        counts.append(len(mvs))
        slots.append(i)
        pd.append(max(p, 1))
        fd.append(max(f, 1))
    if not parts:
        return None, None, (nf, gh, gw, 1)
    if all(not a.dtype.names and a.ndim == 2 and a.shape[1] == 10 for a in parts):
        cols = np.concatenate(parts).T[_MVX_SELECT]  # one row per column: contiguous passes
        if cols.dtype != np.int32:
            cols = cols.astype(np.int64)
    else:
        cols = np.ascontiguousarray(np.concatenate([_as_columns(a) for a in parts]).T)
    counts_per = np.asarray(counts)
    slot = np.repeat(np.asarray(slots, np.int64), counts_per)
    pdist = np.repeat(np.asarray(pd, np.float32), counts_per)
    fdist = np.repeat(np.asarray(fd, np.float32), counts_per)
    src, w, h, dst_x, dst_y, motion_x, motion_y, scale = cols
    scale = scale.astype(np.float32)
    scale[scale == 0] = 1.0
    past = src < 0
    # content displacement reference -> current is (dst - src) = -motion / scale pixels.
    # For a past reference that is forward motion over `past_dist` frames; for a future
    # reference it points backwards in time over `future_dist` frames: turn it round.
    k = np.where(past, -schema.MV_SCALE / pdist, schema.MV_SCALE / fdist) / scale
    vx = (motion_x.astype(np.float64) * k).astype(np.float32)
    vy = (motion_y.astype(np.float64) * k).astype(np.float32)
    left = dst_x - (w >> 1)
    top = dst_y - (h >> 1)
    # Paint on the coarsest grid every block is aligned to (H.264 exports 8x8 and up,
    # often 16x16), then repeat cells down to the 4x4 grid: same result, fewer cells.
    bits = int(np.bitwise_or.reduce(w | h | left | top)) | 16
    unit = max(bits & -bits, schema.MV_BLOCK)
    sh = unit.bit_length() - 1
    uh, uw = -(-gh * schema.MV_BLOCK // unit), -(-gw * schema.MV_BLOCK // unit)
    nw = np.maximum(w >> sh, 1)
    nh = np.maximum(h >> sh, 1)
    x0 = left >> sh
    y0 = top >> sh
    m = uh * uw
    total = nf * m
    base = slot * m + y0.astype(np.int64) * uw + x0  # flat cell of each block's top-left
    # A block covers nh x nw cells: one scatter per cell offset (dy, dx) over the blocks
    # that reach it, instead of expanding every block into its cells (fewer passes).
    one = past.all() or not past.any()
    dirs = [None] if one else [past, ~past]
    ndy, ndx = int(nh.max()), int(nw.max())
    rows = [(nh > dy) & (y0 + dy >= 0) & (y0 + dy < uh) for dy in range(ndy)]
    colm = [(nw > dx) & (x0 + dx >= 0) & (x0 + dx < uw) for dx in range(ndx)]
    out = []
    for direction in dirs:
        gx = np.zeros(total, np.float32)
        gy = np.zeros(total, np.float32)
        cov = None if one else np.zeros(total, bool)
        for dy in range(ndy):
            rsel = rows[dy] if direction is None else rows[dy] & direction
            for dx in range(ndx):
                idx = np.flatnonzero(rsel & colm[dx])
                flat = base[idx] + (dy * uw + dx)
                gx[flat] = vx[idx]
                gy[flat] = vy[idx]
                if cov is not None:
                    cov[flat] = True
        out.append((gx, gy, cov))
    if one:
        # one list (P-frames): blocks do not overlap, plain assignment suffices
        gx, gy, _ = out[0]
    else:
        # B-frames: a past and a future estimate per block. FFmpeg often exports an
        # exact (0, 0) for the direction a block does not use (seen on synth clips:
        # ~20 % of B blocks), so a zero beside a non-zero estimate is dropped, and two
        # real estimates are averaged.
        (px, py, cp), (fx, fy, cf) = out
        zp = (px == 0) & (py == 0)
        zf = (fx == 0) & (fy == 0)
        both = cp & cf
        wp = (cp & ~(both & zp & ~zf)).astype(np.float32)
        wf = (cf & ~(both & zf & ~zp)).astype(np.float32)
        n = np.maximum(wp + wf, 1.0)
        gx = (px * wp + fx * wf) / n
        gy = (py * wp + fy * wf) / n
    return gx, gy, (nf, uh, uw, unit // schema.MV_BLOCK)


def _expand(gx, gy, shape, grid_hw, dtype) -> np.ndarray:
    """Coarse components -> (F, Hg, Wg, 2) of ``dtype``, each cell repeated r x r."""
    nf, uh, uw, r = shape
    gh, gw = grid_hw
    if gx is None:
        return np.zeros((nf, gh, gw, 2), dtype)
    pair = np.empty((nf, uh, 1, uw, 1, 2), dtype)
    pair[..., 0] = gx.reshape(nf, uh, 1, uw, 1)
    pair[..., 1] = gy.reshape(nf, uh, 1, uw, 1)
    wide = np.dtype(f"V{2 * np.dtype(dtype).itemsize}")  # (dx, dy) as one element: one copy pass
    out = np.empty((nf, uh, r, uw, r), wide)
    out[...] = pair.view(wide)[..., 0]
    out = out.view(dtype).reshape(nf, uh * r, uw * r, 2)
    return out if (uh * r, uw * r) == (gh, gw) else out[:, :gh, :gw]


def rasterise_batch(
    frames: list[tuple[np.ndarray | None, int, int]],
    grid_hw: tuple[int, int],
) -> np.ndarray:
    """Dense forward motion per frame from FFmpeg's exported vectors, several frames at once.

    Args:
        frames: per frame ``(mvs, past_dist, future_dist)``: the vectors (PyAV's
            structured array or mvextractor's (N, 10) array, see :func:`mv_columns`;
            None = no vectors) and the display-order distance (frames) to the past /
            future reference anchor; vectors are divided by it so that the result is per
            frame.
        grid_hw: (Hg, Wg) = ceil(H/4), ceil(W/4) of the coded frame.

    Returns:
        float32 (F, Hg, Wg, 2): (dx, dy) in quarter-pel per frame; where a block has a
        past and a future vector (B-frames) the two per-frame estimates are averaged
        (an exact zero beside a non-zero estimate is taken as FFmpeg's filler and dropped);
        cells no vector covers (intra blocks, frames without vectors) are 0. Blocks
        reaching past the frame edge (coded size is a multiple of 16) keep their inside
        cells. One vectorised pass for all frames: the per-call overhead of numpy is
        paid once per batch, not once per frame.
    """
    gx, gy, shape = _rasterise_coarse(frames, grid_hw)
    return _expand(gx, gy, shape, grid_hw, np.float32)


def rasterise_batch_int16(
    frames: list[tuple[np.ndarray | None, int, int]],
    grid_hw: tuple[int, int],
) -> np.ndarray:
    """:func:`rasterise_batch` rounded to int16 (``clip(rint(v), -32767, 32767)``, the
    cache's ``mv``): the same values, but rounded on the coarse grid before the cells are
    repeated (elementwise, so the order does not change the result), which is cheaper.
    """
    gx, gy, shape = _rasterise_coarse(frames, grid_hw)
    q = (None, None) if gx is None else (_to_int16(gx), _to_int16(gy))
    return _expand(q[0], q[1], shape, grid_hw, np.int16)


def _to_int16(v: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(v), -32767, 32767).astype(np.int16)


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


# ----------------------------------------------------------------------------- compiled kernel

_KERNEL: list = []  # [callable or None], resolved on first use


def _build_kernel():
    if os.environ.get("VSSL_NO_JIT") or sys.byteorder != "little":
        return None
    try:
        from vssl.io.mv._jit import paint
    except Exception as e:  # no numba, or numba cannot cache/compile here: numpy it is
        _warn(f"compiled rasteriser unavailable ({type(e).__name__}: {e}); using the numpy one")
        return None
    return paint


def _warn(msg: str) -> None:
    import warnings

    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) for both decoders' layouts."""
    if kernel() is None:
        return
    for mvs in (np.zeros((1, len(MVX_COLUMNS)), np.int32), np.zeros(1, PYAV_MV_DTYPE)):
        rasterise_int16([(mvs, 1, 1)], (1, 1))


def kernel():
    """The compiled kernel, or None when numba is missing or disabled."""
    if not _KERNEL:
        _KERNEL.append(_build_kernel())
    return _KERNEL[0]


def rasterise_int16(frames: list[tuple[np.ndarray | None, int, int]], grid_hw: tuple[int, int]) -> np.ndarray:
    """Same contract and values as :func:`vssl.io.rasterise_batch_int16`."""
    paint = kernel()
    if paint is None:
        return rasterise_batch_int16(frames, grid_hw)
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
        return rasterise_batch_int16(frames, grid_hw)
    return out


def _columns(parts: list[np.ndarray]) -> list[np.ndarray]:
    """The :data:`~vssl.io.MV_FIELDS` columns of the concatenated vector arrays, as
    views (no per-column copy) when all parts have one layout."""
    first = parts[0]
    dt = first.dtype
    same = all(a.dtype is dt or a.dtype == dt for a in parts) and all(a.shape[1:] == first.shape[1:] for a in parts)
    if same and dt.names and all(a.flags.c_contiguous for a in parts):  # PyAV's structured AVMotionVector arrays
        # concatenated as raw bytes: numpy's concatenate of structured arrays promotes
        # the fields of every part (~50 us each)
        raw = np.frombuffer(b"".join([a.data for a in parts]), dt)
        return [raw[k] for k in MV_FIELDS]
    if same and first.ndim == 2 and first.shape[1] == len(MVX_COLUMNS) and first.dtype.kind == "i":
        rows = np.concatenate(parts)  # mvextractor's (N, 10)
        return [rows[:, j] for j in _MVX_SELECT]
    rows = np.concatenate([_as_columns(a) for a in parts])
    return [rows[:, j] for j in range(rows.shape[1])]
