"""Variance-invariance-covariance regularisation: the loss of VICReg.

Bardes, Ponce & LeCun 2022, https://arxiv.org/abs/2105.04906, eq. 1-6: a mean
squared distance between the two embeddings (invariance), a hinge on the standard
deviation of each dimension over the batch (variance) and the squared off-diagonal
covariances (covariance), weighted 25 / 25 / 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def invariance(z1: Tensor, z2: Tensor) -> Tensor:
    """``mean over samples and dimensions of (z1 - z2)^2`` (``F.mse_loss``), ``(N, D)`` each."""
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    return F.mse_loss(z1, z2)


def variance(z: Tensor, *, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """``mean_j ReLU(gamma - sqrt(Var(z_j) + eps))`` over the ``D`` dimensions of ``z`` ``(N, D)``
    (unbiased variance over the ``N >= 2`` samples)."""
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"z must be (N, D) with N >= 2, got {tuple(z.shape)}")
    return F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean()


def covariance(z: Tensor) -> Tensor:
    """``sum_{i != j} C_ij^2 / D`` with ``C = (z - mean)^T (z - mean) / (N - 1)``, ``z`` ``(N, D)``."""
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"z must be (N, D) with N >= 2, got {tuple(z.shape)}")
    n, d = z.shape
    zc = z - z.mean(dim=0)
    c = zc.t() @ zc / (n - 1)
    return (c.pow(2).sum() - torch.diagonal(c).pow(2).sum()) / d


def variance_invariance_covariance(
    z1: Tensor,
    z2: Tensor,
    *,
    inv_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    z1_all: Tensor | None = None,
    z2_all: Tensor | None = None,
) -> Tensor:
    """VICReg: ``inv_weight * invariance(z1, z2) + var_weight * (variance(z1) + variance(z2)) / 2
    + cov_weight * (covariance(z1) + covariance(z2))``.

    Args:
        z1, z2: expander outputs ``(N, D)`` of the two views (nothing detached).
        z1_all, z2_all: the same over the global batch (gathered with gradient); the
            reference code takes the variance and covariance over them and the
            invariance over the local batch. ``None``: ``z1``, ``z2``.

    Returns:
        Scalar tensor.
    """
    a = z1 if z1_all is None else z1_all
    b = z2 if z2_all is None else z2_all
    return (inv_weight * invariance(z1, z2) + var_weight * (variance(a) + variance(b)) / 2
            + cov_weight * (covariance(a) + covariance(b)))
