"""The numba kernel of :mod:`vssl.io.mvraster` (imported only when numba is installed)."""

import numba
import numpy as np

from vssl.io.schema import MV_BLOCK, MV_SCALE


@numba.njit(cache=True, nogil=True)
def _q16(v):
    return np.int16(min(max(np.rint(v), -32767.0), 32767.0))


@numba.njit(cache=True, nogil=True)
def paint(rows, sel, starts, past_d, fut_d, out):
    """Rasterise frame f's vectors ``rows[starts[f]:starts[f+1]]`` into ``out[f]``.

    rows (N, C) integer vectors; sel: the columns of source, w, h, dst_x, dst_y,
    motion_x, motion_y, motion_scale; past_d / fut_d (F,) distances to the anchors;
    out (F, Hg, Wg, 2) int16. Each frame is painted on the coarsest grid its blocks are
    aligned to (often 8 or 16 pixels), combined there, then repeated to the 4x4 grid.
    """
    nf, gh, gw = out.shape[0], out.shape[1], out.shape[2]
    acc = np.zeros((2, gh, gw, 2), np.float32)  # [past | future] (dx, dy), coarse cells
    cov = np.zeros((2, gh, gw), np.bool_)
    q = np.zeros((gh, gw, 2), np.int16)
    rowbuf = np.zeros((gw, 2), np.int16)
    c_src, c_w, c_h, c_x, c_y, c_mx, c_my, c_sc = sel[0], sel[1], sel[2], sel[3], sel[4], sel[5], sel[6], sel[7]
    mv_scale = np.float32(MV_SCALE)
    for f in range(nf):
        a, b = starts[f], starts[f + 1]
        if a == b:
            out[f] = 0
            continue
        bits = 16
        for i in range(a, b):
            w = rows[i, c_w]
            h = rows[i, c_h]
            bits |= w | h | (rows[i, c_x] - (w >> 1)) | (rows[i, c_y] - (h >> 1))
        unit = bits & -bits
        if unit < MV_BLOCK:
            unit = MV_BLOCK
        sh = 0
        while (1 << sh) < unit:
            sh += 1
        r = unit // MV_BLOCK
        uh = (gh + r - 1) // r
        uw = (gw + r - 1) // r
        acc[:, :uh, :uw] = 0
        cov[:, :uh, :uw] = False
        pd = np.float32(past_d[f])
        fd = np.float32(fut_d[f])
        for i in range(a, b):
            w = rows[i, c_w]
            h = rows[i, c_h]
            sc = np.float32(rows[i, c_sc])
            if sc == 0:
                sc = np.float32(1.0)
            if rows[i, c_src] < 0:
                d = 0
                k = (-mv_scale / pd) / sc
            else:
                d = 1
                k = (mv_scale / fd) / sc
            vx = np.float32(np.float64(rows[i, c_mx]) * np.float64(k))
            vy = np.float32(np.float64(rows[i, c_my]) * np.float64(k))
            x0 = (rows[i, c_x] - (w >> 1)) >> sh
            y0 = (rows[i, c_y] - (h >> 1)) >> sh
            x1 = min(x0 + max(w >> sh, 1), uw)
            y1 = min(y0 + max(h >> sh, 1), uh)
            for y in range(max(y0, 0), y1):
                for x in range(max(x0, 0), x1):
                    acc[d, y, x, 0] = vx
                    acc[d, y, x, 1] = vy
                    cov[d, y, x] = True
        for y in range(uh):
            for x in range(uw):
                cp = cov[0, y, x]
                cf = cov[1, y, x]
                px = acc[0, y, x, 0]
                py = acc[0, y, x, 1]
                fx = acc[1, y, x, 0]
                fy = acc[1, y, x, 1]
                if cp and cf:
                    zp = px == 0 and py == 0
                    zf = fx == 0 and fy == 0
                    if zp and not zf:  # FFmpeg's (0, 0) filler beside a real estimate
                        cp = False
                    elif zf and not zp:
                        cf = False
                if cp and cf:
                    q[y, x, 0] = _q16((px + fx) / np.float32(2.0))
                    q[y, x, 1] = _q16((py + fy) / np.float32(2.0))
                elif cp:
                    q[y, x, 0] = _q16(px)
                    q[y, x, 1] = _q16(py)
                elif cf:
                    q[y, x, 0] = _q16(fx)
                    q[y, x, 1] = _q16(fy)
                else:
                    q[y, x, 0] = 0
                    q[y, x, 1] = 0
        for cy in range(uh):
            for x in range(gw):
                rowbuf[x, 0] = q[cy, x // r, 0]
                rowbuf[x, 1] = q[cy, x // r, 1]
            for y in range(cy * r, min(cy * r + r, gh)):
                out[f, y] = rowbuf
