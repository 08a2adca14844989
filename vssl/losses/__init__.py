"""Losses: pure functions named by their maths; docstrings give shapes."""

from __future__ import annotations

from vssl.losses.info_nce import info_nce, info_nce_logits
from vssl.losses.nt_xent import nt_xent
from vssl.losses.triplet import cosine_distance, triplet_margin

__all__ = ["cosine_distance", "info_nce", "info_nce_logits", "nt_xent", "triplet_margin"]
