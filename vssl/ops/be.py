"""BE (Background Erasing) operations: mix a static frame into every frame of a clip."""

from __future__ import annotations

import torch
from torch import Tensor

from vssl.ops._batch import _gen_device, _per_clip, _rand


def be_mix(x: Tensor, static: Tensor, lam: float | Tensor) -> Tensor:
    """Background Erasing: ``x_j <- (1 - lam) * x_j + lam * static`` for every frame j.

    Args:
        x: (B, C, T, H, W).
        static: (B, C, H, W) or (B, C, 1, H, W), e.g. :func:`random_static_frame`.
        lam: a scalar (one per batch, as BE) or a (B,) tensor.
    """
    if x.ndim != 5:
        raise ValueError(f"x must be (B, C, T, H, W), got shape {tuple(x.shape)}")
    if static.ndim == 4:
        static = static.unsqueeze(2)
    if static.shape[:2] != x.shape[:2] or static.shape[2] != 1 or static.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"static {tuple(static.shape)} does not fit clips {tuple(x.shape)}")
    if isinstance(lam, Tensor) and lam.ndim > 0:
        lam = _per_clip(lam.reshape(-1), x)
    return (1.0 - lam) * x + lam * static


def sample_be_lambda(
    generator: torch.Generator | None = None,
    high: float = 0.3,
    *,
    size: int | None = None,
    device: torch.device | str | None = None,
) -> float | Tensor:
    """lambda ~ U[0, high): a float (one per batch, as BE), or a (size,) tensor."""
    if size is None:
        return float(_rand((1,), generator, "cpu")[0]) * high
    return high * _rand((size,), generator, device if device is not None else _gen_device(generator))


def random_static_frame(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One uniformly random frame of each clip: (B, C, T, H, W) -> (B, C, H, W)."""
    if x.ndim != 5:
        raise ValueError(f"x must be (B, C, T, H, W), got shape {tuple(x.shape)}")
    bsz, t = x.shape[0], x.shape[2]
    k = (_rand((bsz,), generator, x.device) * t).long().clamp_(max=t - 1)
    return x[torch.arange(bsz, device=x.device), :, k]  # advanced dims first: (B, C, H, W)
