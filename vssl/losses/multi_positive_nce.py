"""InfoNCE with several positives per anchor, given by labels (the "L_out" form of supervised
contrastive learning, Khosla et al. 2020, eq. 2): TEC contrasts the vectors of clip pairs whose
relative temporal transformation is the same (RECIPES.md "Methods II (a)")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def multi_positive_info_nce(z: Tensor, labels: Tensor, *, temperature: float, normalize: bool = True) -> tuple[Tensor, Tensor]:
    """``mean_i -1/|P_i| sum_{p in P_i} log(exp(s_ip / tau) / sum_{a != i} exp(s_ia / tau))``.

    Args:
        z: ``(N, D)`` vectors (L2-normalised here unless ``normalize=False``); nothing detached.
        labels: int64 ``(N,)``; ``P_i`` = the other rows with ``labels[i]``.
        temperature: tau > 0.

    Returns:
        ``(loss, has_pos)``: the mean over the anchors with at least one positive (0 with a graph when
        none has), and the bool ``(N,)`` mask of those anchors.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z.dim() != 2 or labels.shape != (z.shape[0],):
        raise ValueError(f"z must be (N, D) and labels (N,), got {tuple(z.shape)} and {tuple(labels.shape)}")
    n = z.shape[0]
    z = F.normalize(z.float(), dim=1) if normalize else z.float()
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = (z @ z.t() / temperature).masked_fill(eye, float("-inf"))
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    per = -(log_p.masked_fill(~pos, 0.0)).sum(1) / n_pos.clamp_min(1)
    w = has_pos.float()
    return (per * w).sum() / w.sum().clamp_min(1.0), has_pos
