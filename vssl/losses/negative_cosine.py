"""Negative cosine similarity with a stop-gradient on the target: the loss of SimSiam and BYOL.

SimSiam (Chen & He 2021, https://arxiv.org/abs/2011.10566, eq. 1):
``D(p, z) = -cos(p, stopgrad(z))``. BYOL (Grill et al. 2020,
https://arxiv.org/abs/2006.07733, eq. 2) writes the same thing as the squared
distance of the L2-normalised vectors, ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def _check(p: Tensor, z: Tensor) -> None:
    if p.dim() != 2 or p.shape != z.shape:
        raise ValueError(f"p and z must both be (B, D), got {tuple(p.shape)} and {tuple(z.shape)}")


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """``-mean_i cos(p_i, z_i)``, the gradient reaching ``p`` only.

    Args:
        p: predictions ``(B, D)`` float (with gradient).
        z: targets ``(B, D)``; detached here (the stop-gradient).

    Returns:
        Scalar in [-1, 1] (-1: every prediction points along its target).
    """
    _check(p, z)
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


def normalized_mse(p: Tensor, z: Tensor) -> Tensor:
    """``mean_i ||p_i/|p_i| - z_i/|z_i|||^2 = 2 - 2 mean_i cos(p_i, z_i)``, ``z`` detached.

    Arguments as :func:`negative_cosine`. Returns a scalar in [0, 4].
    """
    _check(p, z)
    return (F.normalize(p, dim=1) - F.normalize(z.detach(), dim=1)).pow(2).sum(dim=1).mean()
