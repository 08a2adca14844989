"""CORP_f's contrast-and-order loss (Hu et al., ICCV 2021, RECIPES.md "Methods II (a)").

Each of the ``N = 2B`` clips of a batch (two per video) classifies every (other clip, order) pair,
a ``2(N - 1)``-way classification. With the *decoupling attention* the pair score
``z_i^T W z_j`` is split into a symmetric part ``S = (W + W^T) / 2`` (contrast: "x is like y" is
symmetric) and an antisymmetric part ``A = (W - W^T) / 2`` (order: "x before y" means "y after
x"). vssl factorises the classification as ``p(j, o) = p(j) p(o | j)`` with
``p(j) = softmax_j(z_i^T S z_j / tau)`` and ``p(o | j) = softmax_o(o z_i^T A z_j / tau)``,
``o = +1`` (i before j) or ``-1``; its cross-entropy is then exactly the paper's
``L = L_NCE + L_order`` (the 2-way order term on the positive pair).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def split_symmetric(w: Tensor) -> tuple[Tensor, Tensor]:
    """``(S, A)`` = the symmetric and antisymmetric parts of a square ``(D, D)`` matrix."""
    return (w + w.t()) / 2, (w - w.t()) / 2


def contrast_order(z: Tensor, w: Tensor, video: Tensor, time: Tensor, *, temperature: float) -> tuple[Tensor, Tensor, Tensor]:
    """InfoNCE over the symmetric scores and the 2-way order loss over the antisymmetric ones.

    Args:
        z: clip embeddings ``(N, D)`` (used as given; L2-normalise them first for cosine scores).
        w: pair matrix ``(D, D)`` (the decoupling attention ``U^T V``).
        video: int64 ``(N,)``; every clip has exactly one other clip of its video (its positive).
        time: ``(N,)`` start frame of each clip; the order label of ``(i, j)`` is ``time_i < time_j``.
            Pairs with equal times are left out of the order term.
        temperature: tau > 0 for both terms.

    Returns:
        ``(nce, order, order_acc)``: scalars; ``order`` is 0 (with a graph) when no pair has
        distinct times; ``order_acc`` (detached) is the fraction of those pairs whose order is right.

    Raises:
        ValueError: a clip without exactly one positive, or a non-positive temperature.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = z.shape[0]
    same = video[:, None] == video[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    pos = same & ~eye
    if not bool((pos.sum(1) == 1).all()):
        raise ValueError("contrast_order needs exactly two clips per video")
    s, a = split_symmetric(w.float())
    zf = z.float()
    c = (zf @ s @ zf.t()) / temperature  # (N, N), symmetric
    o = (zf @ a @ zf.t()) / temperature  # (N, N), antisymmetric
    j = pos.float().argmax(1)  # each clip's positive
    nce = F.cross_entropy(c.masked_fill(eye, float("-inf")), j)
    rows = torch.arange(n, device=z.device)
    a_pos = o[rows, j]  # score of "i before its positive"
    ti, tj = time[rows], time[j]
    valid = ti != tj
    label = (ti > tj).long()  # 0: i before j (logit +a), 1: i after j (logit -a)
    logits = torch.stack([a_pos, -a_pos], dim=1)
    per = F.cross_entropy(logits, label, reduction="none")
    w_ = valid.float()
    order = (per * w_).sum() / w_.sum().clamp_min(1.0)
    acc = (((logits.argmax(1) == label).float() * w_).sum() / w_.sum().clamp_min(1.0)).detach()
    return nce, order, acc
