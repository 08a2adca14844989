"""The separable resampling every geometric and blur op of :mod:`vssl.data.transforms`
runs on: ``out = A_h @ x @ A_w^T`` with per-clip weight matrices, two batched matmuls
over all ``B * C * T`` planes (see :mod:`vssl.data.transforms.geometry`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vssl.ops._batch import _planes

Size = int | tuple[int, int]


def _pair(size: Size) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def _separable(x: Tensor, a_h: Tensor, a_w: Tensor) -> Tensor:
    """``out[b, k] = a_h[b] @ x[b, k] @ a_w[b]^T`` for every plane k of every clip b.

    Args:
        x: (B, C, T, H, W) or (B, C, H, W) float.
        a_h: (B, H_out, H) row weights; a_w: (B, W_out, W) column weights.

    Returns:
        (B, C, T, H_out, W_out) or (B, C, H_out, W_out), ``x``'s dtype.
    """
    lead = x.shape[:-2]
    b, (h, w) = x.shape[0], x.shape[-2:]
    ho, wo = a_h.shape[1], a_w.shape[1]
    p = _planes(x)
    k = p.shape[1]
    a_h = a_h.to(x.dtype)
    a_w_t = a_w.to(x.dtype).transpose(1, 2)  # (B, W, W_out)
    # Contract the axis that shrinks the intermediate most first.
    if h * w * wo + ho * h * wo <= ho * h * w + ho * w * wo:
        y = torch.bmm(p.reshape(b, k * h, w), a_w_t).view(b, k, h, wo)
        out = torch.einsum("boh,bkhw->bkow", a_h, y)
    else:
        y = torch.einsum("boh,bkhw->bkow", a_h, p)
        out = torch.bmm(y.reshape(b, k * ho, w), a_w_t).view(b, k, ho, wo)
    return out.reshape(*lead, ho, wo)


def _resample_matrix(
    start: Tensor,
    length: Tensor,
    n_in: int,
    n_out: int,
    *,
    flip: Tensor | None = None,
    mode: str = "bilinear",
    antialias: bool = True,
) -> Tensor:
    """Per-clip 1-D resampling weights: (B, n_out, n_in), each row sums to 1.

    Output pixel ``i`` samples the input at the continuous coordinate
    ``start + (i + 0.5) * length / n_out`` (pixel centres at ``j + 0.5``), reversed
    along the output axis where ``flip``.
    """
    device = start.device
    start = start.to(torch.float32)
    length = length.to(torch.float32)
    scale = length / n_out  # input pixels per output pixel, (B,)
    i = torch.arange(n_out, device=device, dtype=torch.float32)
    centres = start[:, None] + (i[None, :] + 0.5) * scale[:, None]  # (B, n_out)
    if flip is not None:
        centres = torch.where(flip.to(device)[:, None], centres.flip(1), centres)
    if mode == "nearest":
        idx = centres.floor().clamp(0, n_in - 1).long()
        return F.one_hot(idx, n_in).to(torch.float32)
    if mode != "bilinear":
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    support = scale.clamp(min=1.0) if antialias else torch.ones_like(scale)
    j = torch.arange(n_in, device=device, dtype=torch.float32) + 0.5
    d = (j[None, None, :] - centres[:, :, None]) / support[:, None, None]
    wts = (1.0 - d.abs()).clamp(min=0.0)
    return wts / wts.sum(-1, keepdim=True).clamp(min=1e-12)
