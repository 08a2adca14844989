"""Small batched-tensor helpers shared by the clip transforms and the method ops."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _gen_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _rand(shape: Sequence[int], generator: torch.Generator | None, device) -> Tensor:
    """Uniform [0, 1) float32 drawn on the generator's device, moved to ``device``."""
    r = torch.rand(tuple(shape), generator=generator, device=_gen_device(generator))
    return r.to(device)


def _check_batched(x: Tensor, name: str = "x") -> None:
    if x.ndim not in (4, 5):
        raise ValueError(f"{name} must be (B, C, T, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")


def _check_rgb(x: Tensor) -> None:
    _check_batched(x)
    if x.shape[1] != 3:
        raise ValueError(f"colour ops need 3 channels (RGB) in dim 1, got shape {tuple(x.shape)}")


def _per_clip(v: Tensor, x: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against ``x``, in ``x``'s dtype."""
    return v.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.ndim - 1)))


def _planes(x: Tensor) -> Tensor:
    """(B, C, T, H, W) or (B, C, H, W) -> (B, K, H, W), K = C*T or C (a view if possible)."""
    return x.reshape(x.shape[0], -1, x.shape[-2], x.shape[-1])
