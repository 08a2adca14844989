"""DSM operations: local spatial disturbance and temporal shuffles of clips."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vssl.ops._batch import _check_batched, _planes, _rand


def local_disturbance(
    x: Tensor,
    *,
    n_warps: tuple[int, int] = (1, 3),
    strength: float = 0.75,
    radius: tuple[float, float] = (0.1, 0.25),
    generator: torch.Generator | None = None,
    padding_mode: str = "reflection",
) -> Tensor:
    """DSM positive: a few smooth local warps per clip, the same on every frame.

    Each clip gets ``n ~ U{n_warps}`` Gaussian displacement bumps
    ``d_k * exp(-|p - c_k|^2 / (2 r_k^2))`` with centre ``c_k`` uniform in the
    central 80 % of the frame, radius ``r_k ~ U(radius)`` (fraction of each side)
    and displacement of length ``strength * r_k`` in a random direction. The peak
    gradient of one bump is ``0.61 * strength`` (< 1 keeps it fold-free). The
    frame is resampled at ``p + sum_k bump_k(p)`` (bilinear, ``padding_mode`` at
    the borders); all frames and channels of a clip share one sampling grid.

    Args:
        x: float (B, C, T, H, W) or (B, C, H, W), any C.

    Returns:
        Same shape and dtype.
    """
    _check_batched(x)
    lo, hi = n_warps
    if not 0 <= lo <= hi:
        raise ValueError(f"n_warps must satisfy 0 <= min <= max, got {n_warps}")
    bsz, dev = x.shape[0], x.device
    h, w = x.shape[-2:]
    kmax = max(hi, 1)
    u = _rand((bsz, 1 + 5 * kmax), generator, dev)
    n = lo + (u[:, 0] * (hi - lo + 1)).floor().clamp(max=hi - lo)  # (B,)
    u = u[:, 1:].view(bsz, kmax, 5)
    active = (torch.arange(kmax, device=dev)[None, :] < n[:, None]).float()  # (B, K)
    cx, cy = -0.8 + 1.6 * u[..., 0], -0.8 + 1.6 * u[..., 1]  # normalised [-1, 1] coordinates
    r = 2.0 * (radius[0] + (radius[1] - radius[0]) * u[..., 2])  # normalised units (side = 2)
    angle = 2.0 * math.pi * u[..., 3]
    mag = strength * r * active
    dx, dy = mag * torch.cos(angle), mag * torch.sin(angle)
    gx_ = (torch.arange(w, device=dev, dtype=torch.float32) * 2 + 1) / w - 1  # pixel centres
    gy_ = (torch.arange(h, device=dev, dtype=torch.float32) * 2 + 1) / h - 1
    ex = torch.exp(-0.5 * ((gx_[None, None, :] - cx[..., None]) / r[..., None]) ** 2)  # (B, K, W)
    ey = torch.exp(-0.5 * ((gy_[None, None, :] - cy[..., None]) / r[..., None]) ** 2)  # (B, K, H)
    disp_x = torch.einsum("bkh,bkw->bhw", ey * dx[..., None], ex)
    disp_y = torch.einsum("bkh,bkw->bhw", ey * dy[..., None], ex)
    grid = torch.stack(
        [gx_[None, None, :] + disp_x, gy_[None, :, None] + disp_y], dim=-1
    )  # (B, H, W, 2)
    p = _planes(x)
    out = F.grid_sample(p, grid.to(x.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=False)
    return out.reshape(x.shape)


def temporal_shuffle(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """DSM's *temporal local disturbance* negative: the frames of each clip in a random
    order (one permutation per clip, never the identity when T > 1): the scene of
    every frame is kept, the motion is broken.

    Args:
        x: (B, C, T, H, W).
    """
    if x.ndim != 5:
        raise ValueError(f"x must be (B, C, T, H, W), got shape {tuple(x.shape)}")
    bsz, t = x.shape[0], x.shape[2]
    order = _rand((bsz, t), generator, x.device).argsort(dim=1)  # (B, T)
    if t > 1:  # an identity draw becomes a one-step rotation
        ident = (order == torch.arange(t, device=x.device)).all(dim=1, keepdim=True)
        order = torch.where(ident, order.roll(1, dims=1), order)
    idx = order[:, None, :, None, None].expand(-1, x.shape[1], -1, x.shape[3], x.shape[4])
    return x.gather(2, idx)
