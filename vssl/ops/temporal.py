"""Temporal cuts of a batch of long clips: the speeds, shifts, reversals and sub-sequences that
ASCNet, TEC and LSFD build from the one long clip per view the data layer loads
(``requires.clip_factor``, :mod:`vssl.data.dataset`).

Frame indices are per sample, so one batched gather cuts every clip of the batch with its
own transformation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def frame_indices(starts: Tensor, speeds: Tensor, clip_len: int, reverse: Tensor | None = None) -> Tensor:
    """Indices ``start + speed * [0, 1, ..., clip_len - 1]`` of each sample, reversed in time
    where ``reverse``.

    Args:
        starts, speeds: int64 ``(B,)``; a clip at speed ``s`` covers ``s * (clip_len - 1) + 1`` frames.
        reverse: bool ``(B,)`` or None (all forward): the same frames, last one first.

    Returns:
        int64 ``(B, clip_len)``.
    """
    t = starts[:, None] + speeds[:, None] * torch.arange(clip_len, device=starts.device)
    if reverse is not None:
        t = torch.where(reverse[:, None], t.flip(1), t)
    return t


def take_frames(x: Tensor, t: Tensor) -> Tensor:
    """Gather frames per sample: ``x`` ``(B, T, ...)`` (any dtype, e.g. uint8 ``(B, T, H, W, 3)``),
    ``t`` int64 ``(B, L)`` in ``[0, T)`` -> ``(B, L, ...)`` with ``out[b, i] = x[b, t[b, i]]``."""
    if t.dim() != 2 or t.shape[0] != x.shape[0]:
        raise ValueError(f"t must be (B, L) with B = {x.shape[0]}, got {tuple(t.shape)}")
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[rows, t.to(x.device)]
