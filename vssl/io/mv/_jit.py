"""The numba kernel of :mod:`vssl.io.mv.raster` (imported only when numba is installed)."""

import numba
import numpy as np

from vssl.io.schema import MV_BLOCK, MV_SCALE


@numba.njit(cache=True, nogil=True, inline="always")
def _q16(v):
    return np.int16(min(max(np.rint(v), -32767.0), 32767.0))


@numba.njit(cache=True, nogil=True)
def paint(src_, w_, h_, x_, y_, mx_, my_, sc_, starts, past_d, fut_d, out32):
    """Rasterise frame f's vectors (rows ``starts[f]:starts[f+1]``) into ``out[f]``.

    src_ ... sc_: (N,) integer columns source, w, h, dst_x, dst_y, motion_x, motion_y,
    motion_scale (views into mvextractor's or PyAV's arrays: any integer type, strided);
    past_d / fut_d (F,) distances to the anchors; out32 (F, Hg, Wg) int32: the int16
    (dx, dy) pairs of the (F, Hg, Wg, 2) output seen as one int32 each (little-endian). Each frame is painted on the coarsest grid its blocks are
    aligned to (often 8 or 16 pixels), combined there, then repeated to the 4x4 grid.
    """
    nf, gh, gw = out32.shape[0], out32.shape[1], out32.shape[2]
    vx_ = np.zeros((2, gh, gw), np.float32)  # [past | future] estimate per coarse cell
    vy_ = np.zeros((2, gh, gw), np.float32)
    cov = np.zeros((gh, gw), np.uint8)  # bit 0: a past estimate, bit 1: a future one
    qrow = np.zeros(gw, np.int32)
    mv_scale = np.float32(MV_SCALE)
    half = np.float32(2.0)
    for f in range(nf):
        a, b = starts[f], starts[f + 1]
        if a == b:
            out32[f] = 0
            continue
        bits = 16
        for i in range(a, b):
            w = np.int64(w_[i])
            h = np.int64(h_[i])
            bits |= w | h | (np.int64(x_[i]) - (w >> 1)) | (np.int64(y_[i]) - (h >> 1))
        unit = bits & -bits
        if unit < MV_BLOCK:
            unit = MV_BLOCK
        sh = 0
        while (1 << sh) < unit:
            sh += 1
        r = unit // MV_BLOCK
        uh = (gh + r - 1) // r
        uw = (gw + r - 1) // r
        cov[:uh, :uw] = 0
        kp = -mv_scale / np.float32(past_d[f])
        kf = mv_scale / np.float32(fut_d[f])
        for i in range(a, b):
            w = np.int64(w_[i])
            h = np.int64(h_[i])
            sc = np.float32(sc_[i])
            if sc == 0:
                sc = np.float32(1.0)
            if src_[i] < 0:
                d = 0
                k = kp / sc
            else:
                d = 1
                k = kf / sc
            vx = np.float32(np.float64(mx_[i]) * np.float64(k))
            vy = np.float32(np.float64(my_[i]) * np.float64(k))
            bit = np.uint8(1 << d)
            x0 = (np.int64(x_[i]) - (w >> 1)) >> sh
            y0 = (np.int64(y_[i]) - (h >> 1)) >> sh
            x1 = min(x0 + max(w >> sh, 1), uw)
            y1 = min(y0 + max(h >> sh, 1), uh)
            for y in range(max(y0, 0), y1):
                for x in range(max(x0, 0), x1):
                    vx_[d, y, x] = vx
                    vy_[d, y, x] = vy
                    cov[y, x] |= bit
        rs = sh - 2  # r = 1 << rs 4x4 cells per coarse cell side
        for cy in range(uh):
            for cx in range(uw):
                c = cov[cy, cx]
                if c == 3:
                    px, py = vx_[0, cy, cx], vy_[0, cy, cx]
                    fx, fy = vx_[1, cy, cx], vy_[1, cy, cx]
                    zp = px == 0 and py == 0
                    zf = fx == 0 and fy == 0
                    if zp and not zf:  # FFmpeg's (0, 0) filler beside a real estimate
                        c = 2
                    elif zf and not zp:
                        c = 1
                    else:
                        qx, qy = _q16((px + fx) / half), _q16((py + fy) / half)
                if c == 1:
                    qx, qy = _q16(vx_[0, cy, cx]), _q16(vy_[0, cy, cx])
                elif c == 2:
                    qx, qy = _q16(vx_[1, cy, cx]), _q16(vy_[1, cy, cx])
                elif c == 0:
                    qx, qy = np.int16(0), np.int16(0)
                # (dx, dy) as one little-endian int32: dx in the low half
                qrow[cx] = (np.int32(qy) << 16) | (np.int32(qx) & 0xFFFF)
            y0 = cy << rs
            y1 = min(y0 + r, gh)
            for x in range(gw):
                out32[f, y0, x] = qrow[x >> rs]
            for y in range(y0 + 1, y1):
                for x in range(gw):
                    out32[f, y, x] = out32[f, y0, x]
