"""InfoNCE: the contrastive loss of MoCo, BE, DSM, FAME and CMD.

One query ``q_i`` is scored against its positive key ``k_i`` and a set of
negatives; the loss is the cross-entropy of picking the positive
(van den Oord et al. 2018, https://arxiv.org/abs/1807.03748; MoCo,
He et al. 2020, https://arxiv.org/abs/1911.05722).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce_logits(
    q: Tensor,
    k: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float,
    extra_negatives: Tensor | None = None,
    normalize: bool = True,
) -> tuple[Tensor, Tensor]:
    """Logits and targets of InfoNCE, e.g. for top-1 accuracy logging.

    Args:
        q: queries, ``(B, D)`` float.
        k: positive keys, ``(B, D)``; row ``i`` is the positive of ``q[i]``.
            Used as given: detach it yourself when it comes from a momentum
            encoder (MoCo does).
        negatives: shared negatives, ``(K, D)``, e.g. a MoCo queue. Always
            detached here. ``None``: in-batch negatives, i.e. the other rows
            of ``k``.
        temperature: softmax temperature tau > 0 (MoCo v2, BE, DSM 0.07;
            FAME, CMD 0.1).
        extra_negatives: one more negative per sample, ``(B, D)``, scored as
            ``q[i] . extra_negatives[i]`` in one extra, last column (the
            intra-video negative of BE and DSM). Used as given (not detached).
        normalize: L2-normalise ``q``, ``k``, ``negatives`` and
            ``extra_negatives`` along ``D`` first, so that dot products are
            cosine similarities. With ``False`` the inputs are taken as
            already normalised (or deliberately not).

    Returns:
        ``(logits, labels)``. With ``negatives``: logits ``(B, 1 + K [+ 1])``
        with the positive in column 0, labels all zero. Without: logits
        ``(B, B [+ 1])``, the positive of row ``i`` in column ``i``, labels
        ``arange(B)``. Logits are already divided by ``temperature``; labels
        are int64 on ``q``'s device.

    Raises:
        ValueError: on a non-positive temperature or mismatched shapes.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if q.dim() != 2 or q.shape != k.shape:
        raise ValueError(f"q and k must both be (B, D), got {tuple(q.shape)} and {tuple(k.shape)}")
    batch, dim = q.shape
    if negatives is not None and (negatives.dim() != 2 or negatives.shape[1] != dim):
        raise ValueError(f"negatives must be (K, {dim}), got {tuple(negatives.shape)}")
    if extra_negatives is not None and extra_negatives.shape != q.shape:
        raise ValueError(
            f"extra_negatives must be {tuple(q.shape)} like q, got {tuple(extra_negatives.shape)}"
        )

    if normalize:
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)
        if extra_negatives is not None:
            extra_negatives = F.normalize(extra_negatives, dim=1)
    if negatives is None:
        logits = q @ k.t()  # (B, B), positives on the diagonal
        labels = torch.arange(batch, device=q.device)
    else:
        negatives = negatives.detach()
        if normalize:
            negatives = F.normalize(negatives, dim=1)
        l_pos = (q * k).sum(dim=1, keepdim=True)  # (B, 1)
        l_neg = q @ negatives.t()  # (B, K)
        logits = torch.cat([l_pos, l_neg], dim=1)
        labels = torch.zeros(batch, dtype=torch.long, device=q.device)
    if extra_negatives is not None:
        l_extra = (q * extra_negatives).sum(dim=1, keepdim=True)  # (B, 1)
        logits = torch.cat([logits, l_extra], dim=1)
    return logits / temperature, labels


def info_nce(
    q: Tensor,
    k: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float,
    extra_negatives: Tensor | None = None,
    normalize: bool = True,
) -> Tensor:
    """InfoNCE loss, the mean over the batch of ``-log softmax(logits)[positive]``.

    Arguments as in :func:`info_nce_logits`: ``q``, ``k`` ``(B, D)``;
    ``negatives`` ``(K, D)`` (detached) or ``None`` for in-batch negatives;
    ``extra_negatives`` ``(B, D)``, one more negative per sample; inputs are
    L2-normalised inside unless ``normalize=False``. No all-gather is done
    here: gather keys across processes before calling.

    Returns:
        Scalar tensor, mean over the ``B`` queries.
    """
    logits, labels = info_nce_logits(
        q,
        k,
        negatives,
        temperature=temperature,
        extra_negatives=extra_negatives,
        normalize=normalize,
    )
    return F.cross_entropy(logits, labels)
