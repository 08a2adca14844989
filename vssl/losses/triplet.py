"""Triplet margin loss of the BE / DSM triplet variants.

The anchor must be closer to its positive than to its negative by a margin:
``mean(max(0, d(a, p) - d(a, n) + margin))``. DSM (Wang et al. 2021,
https://arxiv.org/abs/2009.05757) and BE use margin 0.5.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

Distance = Literal["cosine", "euclidean"]


def cosine_distance(x: Tensor, y: Tensor) -> Tensor:
    """Row-wise ``1 - cos(x_i, y_i)`` of two ``(B, D)`` tensors, in ``[0, 2]``, shape ``(B,)``."""
    return 1.0 - F.cosine_similarity(x, y, dim=1, eps=1e-8)


def triplet_margin(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    margin: float = 0.5,
    distance: Distance = "cosine",
    normalize: bool = False,
) -> Tensor:
    """Triplet margin loss, mean over the batch.

    Args:
        anchor: ``(B, D)`` float, e.g. the query clip's features.
        positive: ``(B, D)``, e.g. the disturbed (DSM) or distracted (BE) clip.
        negative: ``(B, D)``, e.g. a clip from another segment of the same
            video. None of the three is detached.
        margin: required gap between the two distances (0.5 in BE / DSM).
        distance: ``"cosine"`` (default): ``1 - cos``, scale-free, in [0, 2].
            ``"euclidean"``: plain L2 distance on the inputs as given, which
            is what DSM's public code does (``nn.TripletMarginLoss(margin=0.5,
            p=2)`` on the model output, which ends in an L2 normalisation).
            On L2-normalised inputs the squared Euclidean distance is twice
            the cosine distance.
        normalize: L2-normalise the three inputs first (the DSM / BE reference
            models' ``Normalize(2)``). Without it a Euclidean margin can be met
            by growing the norms of the embeddings.

    Returns:
        Scalar tensor ``mean_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin)``.

    Raises:
        ValueError: on a negative margin, an unknown distance or mismatched shapes.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if anchor.dim() != 2 or anchor.shape != positive.shape or anchor.shape != negative.shape:
        raise ValueError(
            "anchor, positive and negative must all be (B, D), got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
        )
    if normalize:
        anchor, positive, negative = (F.normalize(v, dim=1) for v in (anchor, positive, negative))
    if distance == "cosine":
        d_pos = cosine_distance(anchor, positive)
        d_neg = cosine_distance(anchor, negative)
    elif distance == "euclidean":
        # eps as in torch's pairwise_distance, so this equals nn.TripletMarginLoss(p=2)
        d_pos = F.pairwise_distance(anchor, positive, p=2.0, eps=1e-6)
        d_neg = F.pairwise_distance(anchor, negative, p=2.0, eps=1e-6)
    else:
        raise ValueError(f"distance must be 'cosine' or 'euclidean', got {distance!r}")
    return F.relu(d_pos - d_neg + margin).mean()
