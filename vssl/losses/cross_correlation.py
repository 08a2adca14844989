"""Cross-correlation to the identity: the redundancy-reduction loss of Barlow Twins.

Zbontar et al. 2021, https://arxiv.org/abs/2103.03230, eq. 1-2: standardise each
dimension of the two embeddings over the batch, take their cross-correlation
matrix ``C`` (D x D), and push it to the identity:
``L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def cross_correlation(z1: Tensor, z2: Tensor, *, eps: float = 1e-5) -> Tensor:
    """``C = BN(z1)^T BN(z2) / N``, ``(D, D)``.

    Args:
        z1, z2: embeddings ``(N, D)`` float of the two views; row ``n`` of each is one
            sample. Nothing is detached.
        eps: added to each dimension's variance, as the affine-free ``BatchNorm1d`` of the
            reference code (biased variance over the batch, eps 1e-5).

    Returns:
        ``C_ij``: the correlation over the batch of dimension ``i`` of ``z1`` and
        dimension ``j`` of ``z2`` (in [-1, 1] up to ``eps``).
    """
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("the cross-correlation needs a batch of at least 2 samples")
    n = z1.shape[0]

    def standardise(z: Tensor) -> Tensor:
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)

    return standardise(z1).t() @ standardise(z2) / n


def on_diagonal(c: Tensor) -> Tensor:
    """Invariance term ``sum_i (1 - C_ii)^2`` of a square ``c``."""
    return (1 - torch.diagonal(c)).pow(2).sum()


def off_diagonal(c: Tensor) -> Tensor:
    """Redundancy-reduction term ``sum_{i != j} C_ij^2`` of a square ``c``."""
    return c.pow(2).sum() - torch.diagonal(c).pow(2).sum()


def cross_correlation_loss(z1: Tensor, z2: Tensor, *, lambd: float, eps: float = 1e-5) -> Tensor:
    """Barlow Twins loss ``on_diagonal(C) + lambd * off_diagonal(C)`` of :func:`cross_correlation`.

    Arguments as :func:`cross_correlation`; ``lambd`` >= 0 (the code's default 0.0051).
    Symmetric in ``z1``, ``z2`` (``C`` is transposed). No all-gather is done here:
    gather the embeddings (with gradient) before calling to correlate over the global batch.
    """
    if lambd < 0:
        raise ValueError(f"lambd must be >= 0, got {lambd}")
    c = cross_correlation(z1, z2, eps=eps)
    return on_diagonal(c) + lambd * off_diagonal(c)
