"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

Chen et al. 2020, https://arxiv.org/abs/2002.05709, eq. 1: each of the 2B
views is scored against the other 2B - 1; its positive is the other view of
the same sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(z1: Tensor, z2: Tensor, *, temperature: float, normalize: bool = True) -> Tensor:
    """SimCLR loss over the 2B views of a batch.

    Args:
        z1: projections of the first views, ``(B, D)`` float.
        z2: projections of the second views, ``(B, D)``; ``z2[i]`` is the
            positive of ``z1[i]``. Both get gradients; nothing is detached.
        temperature: tau > 0 (SimCLR uses 0.1 to 0.5).
        normalize: L2-normalise both along ``D`` first (cosine similarity,
            as in the paper). ``False`` takes them as given.

    Returns:
        Scalar tensor: the mean over all 2B anchors of
        ``-log(exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau))``. Symmetric:
        ``nt_xent(z1, z2) == nt_xent(z2, z1)``. No all-gather is done here.

    Raises:
        ValueError: on a non-positive temperature or mismatched shapes.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    batch = z1.shape[0]
    z = torch.cat([z1, z2], dim=0)  # (2B, D)
    if normalize:
        z = F.normalize(z, dim=1)
    sim = (z @ z.t()) / temperature  # (2B, 2B)
    self_mask = torch.eye(2 * batch, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))  # a view is not its own candidate
    idx = torch.arange(batch, device=z.device)
    targets = torch.cat([idx + batch, idx])  # view i of z1 <-> view i of z2
    return F.cross_entropy(sim, targets)
