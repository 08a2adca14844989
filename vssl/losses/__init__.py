"""Losses: pure functions named by their maths; docstrings give shapes."""

from __future__ import annotations

from vssl.losses.contrast_order import contrast_order, split_symmetric
from vssl.losses.cross_correlation import cross_correlation, cross_correlation_loss, off_diagonal, on_diagonal
from vssl.losses.info_nce import info_nce, info_nce_logits
from vssl.losses.masked_reconstruction import masked_mse, normalize_patches, patchify
from vssl.losses.multi_positive_nce import multi_positive_info_nce
from vssl.losses.negative_cosine import negative_cosine, normalized_mse
from vssl.losses.nt_xent import nt_xent
from vssl.losses.speed_consistency import same_speed_top1, speed_consistency
from vssl.losses.triplet import cosine_distance, triplet_margin
from vssl.losses.variance_invariance_covariance import (
    covariance,
    invariance,
    variance,
    variance_invariance_covariance,
)

__all__ = [
    "contrast_order", "cosine_distance", "covariance", "cross_correlation", "cross_correlation_loss", "info_nce", "info_nce_logits",
    "invariance", "masked_mse", "multi_positive_info_nce", "negative_cosine", "normalize_patches", "normalized_mse", "nt_xent", "off_diagonal", "on_diagonal", "patchify", "same_speed_top1", "speed_consistency", "split_symmetric", "triplet_margin",
    "variance", "variance_invariance_covariance",
]
