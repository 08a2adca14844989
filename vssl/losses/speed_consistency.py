"""ASCNet's speed-consistency perception (Huang et al., ICCV 2021): the positive of a clip's speed
feature is the speed feature of the clip of *another* video, at the *same* playback speed, whose
appearance is the most similar (top-1 retrieval from a memory bank), pulled together with the
normalised L2 loss of BYOL (no negatives). RECIPES.md "Methods II (a)".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def same_speed_top1(
    query: Tensor, keys: Tensor, q_speed: Tensor, k_speed: Tensor, q_video: Tensor, k_video: Tensor
) -> tuple[Tensor, Tensor]:
    """For each query, the key of the same speed and another video with the highest cosine similarity.

    Args:
        query: appearance features ``(N, D)`` of the clips looking for a partner.
        keys: appearance features ``(K, D)`` of the candidates (memory bank and batch).
        q_speed, k_speed: int64 ``(N,)``, ``(K,)`` playback speeds; a key with speed < 0 is empty.
        q_video, k_video: int64 ``(N,)``, ``(K,)`` video identities (a clip never retrieves its own video).

    Returns:
        ``(idx, found)``: int64 ``(N,)`` the chosen key per query (0 where none) and bool ``(N,)``
        whether any key qualified. No gradient (a selection).
    """
    with torch.no_grad():
        sim = F.normalize(query.float(), dim=1) @ F.normalize(keys.float(), dim=1).t()  # (N, K)
        ok = (q_speed[:, None] == k_speed[None, :]) & (q_video[:, None] != k_video[None, :]) & (k_speed[None, :] >= 0)
        sim = sim.masked_fill(~ok, float("-inf"))
        best, idx = sim.max(dim=1)
        found = torch.isfinite(best)
        return torch.where(found, idx, torch.zeros_like(idx)), found


def speed_consistency(p: Tensor, targets: Tensor, idx: Tensor, found: Tensor) -> Tensor:
    """``mean over found rows of ||p_i/|p_i| - t_{idx_i}/|t_{idx_i}|||^2`` (targets detached).

    Args:
        p: predicted speed features ``(N, D)`` (with gradient).
        targets: candidate speed features ``(K, D)``.
        idx, found: from :func:`same_speed_top1`.

    Returns:
        Scalar in [0, 4]; 0 (with a graph) when no row found a partner.
    """
    t = F.normalize(targets.detach().float()[idx], dim=1)
    d = (F.normalize(p.float(), dim=1) - t).pow(2).sum(dim=1)
    w = found.float()
    return (d * w).sum() / w.sum().clamp_min(1.0)
