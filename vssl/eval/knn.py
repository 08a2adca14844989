"""Weighted k-nearest-neighbour classification of frozen features.

As in InstDisc (Wu et al. 2018, https://arxiv.org/abs/1805.01978, eq. 8): each
of the k most similar (cosine) training samples votes for its class with weight
``exp(sim / T)``; k = 200 and T = 0.07 there, k = 20 is common for smaller sets
(e.g. solo-learn's defaults).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vssl.errors import InputError
from vssl.eval.retrieval import _as_labels, topk_neighbours

K = 20  # neighbours that vote: ``vssl eval knn --k`` and the pretraining monitor (``--monitor knn``)
TEMPERATURE = 0.07  # InstDisc's T


@torch.no_grad()
def knn_classify(
    train_feats,
    train_labels,
    test_feats,
    *,
    num_classes: int | None = None,
    k: int = K,
    temperature: float = TEMPERATURE,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Classify ``test_feats`` by a weighted vote of their ``k`` nearest training samples.

    Args:
        train_feats: (N, D) features; L2-normalised inside.
        train_labels: (N,) int labels in [0, num_classes).
        test_feats: (M, D) features.
        num_classes: C; default ``max(train_labels) + 1``.
        k: neighbours; clamped to N.
        temperature: T in the vote weight ``exp(sim / T)``.
        chunk_size, device: see ``vssl.eval.retrieval.topk_neighbours``.

    Returns:
        (predictions, scores): (M,) int64 and (M, C) float32 on the CPU; scores are
        the vote shares (rows sum to 1); a tie in votes goes to the lower class index.
    """
    if temperature <= 0:
        raise InputError(f"temperature must be > 0, got {temperature}")
    train_feats = torch.as_tensor(train_feats)
    if train_feats.ndim != 2:
        raise ValueError(f"train_feats must be (N, D), got shape {tuple(train_feats.shape)}")
    y = _as_labels(train_labels, train_feats.shape[0], "train_labels")
    if y.numel() == 0:
        raise InputError("no training samples for kNN")
    if y.min() < 0:
        raise InputError(f"labels must be >= 0, got {y.min().item()}")
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.max() >= c:
        raise InputError(f"label {y.max().item()} >= num_classes {c}")
    sims, idx = topk_neighbours(test_feats, train_feats, k, chunk_size=chunk_size, device=device)
    sims, idx = sims.cpu(), idx.cpu()
    # exp((s - max) / T): same shares as exp(s / T), without overflow for small T.
    w = torch.exp((sims - sims[:, :1]) / temperature)  # (M, k)
    scores = torch.zeros(sims.shape[0], c)
    scores.scatter_add_(1, y[idx], w)
    scores /= scores.sum(1, keepdim=True)
    return scores.argmax(1), scores


def knn_accuracy(predictions, labels) -> float:
    """Fraction of ``predictions`` (M,) equal to ``labels`` (M,)."""
    p, t = torch.as_tensor(predictions).reshape(-1), torch.as_tensor(labels).reshape(-1)
    if p.numel() != t.numel() or p.numel() == 0:
        raise ValueError(f"{p.numel()} predictions for {t.numel()} labels")
    return (p.long() == t.long()).float().mean().item()


def video_knn(train, test, *, num_classes: int, k: int = K, temperature: float = TEMPERATURE,
              device: torch.device | str | None = None) -> tuple[Tensor, dict[int, float]]:
    """Video-level kNN of two :class:`~vssl.eval.features.FeatureSet`: each test video (the mean of its
    clip features) among the train videos. ``vssl eval knn``'s top-1 / top-5 and the pretraining
    monitor's value both come from here.

    Returns:
        (scores (M, C) vote shares, ``{1: top-1, 5: top-5}`` accuracies in [0, 1]).
    """
    from vssl.eval.linear import accuracy_topk

    _, scores = knn_classify(train.video_feats(), train.labels, test.video_feats(), num_classes=num_classes, k=k,
                             temperature=temperature, device=device)
    return scores, accuracy_topk(scores, test.labels, (1, 5))
