"""Clip layout: uint8 frames ``(B, T, H, W, C)`` to float clips ``(B, C, T, H, W)``."""

from __future__ import annotations

import torch
from torch import Tensor


def to_float_clip(x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 frames ``(B, T, H, W, C)`` (or one clip ``(T, H, W, C)``) -> float
    ``(B, C, T, H, W)`` (or ``(C, T, H, W)``) in ``[0, 1]``, contiguous, same device.

    Move the uint8 tensor to the GPU first: it is 4x smaller than the float one.
    """
    if x.ndim not in (4, 5):
        raise ValueError(f"expected (B, T, H, W, C) or (T, H, W, C), got shape {tuple(x.shape)}")
    perm = (0, 4, 1, 2, 3) if x.ndim == 5 else (3, 0, 1, 2)
    src = x.permute(*perm)
    out = torch.empty(src.shape, dtype=dtype, device=x.device)
    out.copy_(src)
    if x.dtype == torch.uint8:
        out.div_(255.0)
    return out
