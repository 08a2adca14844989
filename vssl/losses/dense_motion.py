"""CMD's dense motion-prediction contrast: every predicted location against every true location."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def dense_motion_logits(pred: Tensor, target: Tensor, *, temperature: float) -> tuple[Tensor, Tensor]:
    """Logits and labels of the dense motion InfoNCE of CMD (reference ``pretrain.py``).

    Args:
        pred: predicted motion features ``(B, L, D)``, one per location of the
            motion feature grid of clip ``b``.
        target: true motion features ``(M, L, D)`` with ``M >= B``: rows ``0..B-1``
            the near-future windows of the ``B`` clips (the positives), the rest
            negative windows (their order does not matter).
        temperature: softmax temperature (CMD 0.1).

    Returns:
        ``(B * L, M * L)`` logits of the L2-normalised features divided by
        ``temperature``, and the labels ``(B * L,)``: prediction ``(b, l)`` has
        its positive at target ``(b, l)``; every other location of every clip
        (positive windows of other clips, negative windows, other locations of
        its own window) is a negative.
    """
    b, l, d = pred.shape
    if target.shape[1:] != (l, d) or target.shape[0] < b:
        raise ValueError(f"target {tuple(target.shape)} does not match predictions {tuple(pred.shape)}")
    p = F.normalize(pred.reshape(b * l, d), dim=1)
    z = F.normalize(target.reshape(-1, d), dim=1)
    labels = torch.arange(b * l, device=pred.device)
    return p @ z.t() / temperature, labels
