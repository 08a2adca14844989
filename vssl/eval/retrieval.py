"""Nearest-neighbour video retrieval (protocol of VCOP, Xu et al. 2019, https://arxiv.org/abs/1812.00294).

Queries are the test videos, the gallery the train videos; a query scores a hit
at k when one of its k most similar gallery videos has its class. Similarity is
the cosine of the (optionally centred) features.

Ties: gallery items of equal similarity are ranked by gallery index, lower
first, so results do not depend on the device or the chunk size. (Equal means
equal as computed in float32: duplicated gallery rows may differ in the last bit
after a matrix product.)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from vssl.errors import InputError

RECALL_KS: tuple[int, ...] = (1, 5, 10, 20, 50)


def _as_feats(x, name: str, device: torch.device | None) -> Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be (N, D), got shape {tuple(t.shape)}")
    t = t.to(device=device, dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return t


def _as_labels(y, n: int, name: str) -> Tensor:
    t = torch.as_tensor(y).reshape(-1).long()
    if t.numel() != n:
        raise ValueError(f"{name} has {t.numel()} labels for {n} feature rows")
    return t


def prepare_features(query: Tensor, gallery: Tensor, *, center: bool = False) -> tuple[Tensor, Tensor]:
    """Centre both sets by the gallery mean (if ``center``), then L2-normalise each row.

    Args:
        query: (Q, D) float.
        gallery: (G, D) float.

    Returns:
        (Q, D), (G, D) float32 rows of unit norm (zero rows stay zero).
    """
    if center:
        mu = gallery.mean(0, keepdim=True)
        query, gallery = query - mu, gallery - mu
    return torch.nn.functional.normalize(query, dim=1), torch.nn.functional.normalize(gallery, dim=1)


def stable_topk(sims: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Top ``k`` of each row of ``sims`` (C, G), ties broken by lower column index.

    Args:
        sims: (C, G) float without NaN (-inf allowed); k <= G.

    Returns:
        (values, indices), both (C, k), values descending.

    ``torch.topk`` picks among tied values arbitrarily, and a full stable sort is
    ~5x slower on CPU; so topk is kept and only fixed: its items are re-ordered
    (index order, then a stable sort by value), and the rare rows where the k-th
    value is tied with items left out are redone exactly: every item above the
    k-th value is in, and the items equal to it are taken in index order.
    """
    c = sims.shape[0]
    v, idx = torch.topk(sims, k, dim=1)
    thr = v[:, -1:]  # (C, 1)
    redo = ((sims == thr).sum(1) != (v == thr).sum(1)).nonzero()[:, 0]
    if redo.numel():
        s = sims[redo]
        above = s > thr[redo]
        eq = s == thr[redo]
        take = above | (eq & (eq.cumsum(1, dtype=torch.int32) <= k - above.sum(1, keepdim=True)))
        idx[redo] = take.nonzero()[:, 1].view(redo.numel(), k)  # row-major: ascending index within a row
    idx = idx.sort(1).values
    vals, order = torch.sort(sims.gather(1, idx), dim=1, descending=True, stable=True)
    return vals, idx.gather(1, order)


@torch.no_grad()
def topk_neighbours(
    query_feats,
    gallery_feats,
    k: int,
    *,
    center: bool = False,
    exclude_self: bool = False,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` gallery items most similar (cosine) to each query.

    Args:
        query_feats: (Q, D) features, any float dtype; tensor or array.
        gallery_feats: (G, D) features.
        k: neighbours wanted; clamped to the gallery size.
        center: subtract the gallery mean from both sets before normalising.
        exclude_self: query i is gallery item i (same set, Q == G): never return it.
        chunk_size: queries per block; memory is about ``chunk_size * G * 10`` bytes.
        device: where to compute; default the device of ``query_feats``.

    Returns:
        (sims, idx), both (Q, min(k, G)) (G - 1 with ``exclude_self``) on
        ``device``: cosine similarities, descending, and gallery indices (int64);
        equal similarities are ordered by gallery index.
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    dev = torch.device(device) if device is not None else torch.as_tensor(query_feats).device
    q = _as_feats(query_feats, "query_feats", dev)
    g = _as_feats(gallery_feats, "gallery_feats", dev)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query dim {q.shape[1]} != gallery dim {g.shape[1]}")
    if exclude_self and q.shape[0] != g.shape[0]:
        raise ValueError(f"exclude_self needs query and gallery of the same size, got {q.shape[0]} and {g.shape[0]}")
    q, g = prepare_features(q, g, center=center)
    kk = min(k, g.shape[0] - int(exclude_self))
    if kk < 1:
        raise InputError("the gallery is empty")
    out_v, out_i = [], []
    gt = g.T.contiguous()
    for s in range(0, q.shape[0], chunk_size):
        sims = q[s:s + chunk_size] @ gt  # (C, G)
        if exclude_self:
            rows = torch.arange(sims.shape[0], device=dev)
            sims[rows, rows + s] = -torch.inf
        v, i = stable_topk(sims, kk)
        out_v.append(v)
        out_i.append(i)
    if not out_v:
        return torch.empty(0, kk, device=dev), torch.empty(0, kk, dtype=torch.long, device=dev)
    return torch.cat(out_v), torch.cat(out_i)


@torch.no_grad()
def retrieval_recall(
    query_feats,
    query_labels,
    gallery_feats,
    gallery_labels,
    ks: Sequence[int] = RECALL_KS,
    *,
    center: bool = False,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
) -> dict[int, float]:
    """Recall at k: the fraction of queries with a same-class item among their top k gallery items.

    Args:
        query_feats: (Q, D) features (e.g. test videos, clip features averaged).
        query_labels: (Q,) int class labels.
        gallery_feats: (G, D) features (e.g. train videos).
        gallery_labels: (G,) int class labels.
        ks: the k values; a k larger than G counts as G.
        center: centre both sets by the gallery mean before L2-normalising.
        chunk_size, device: see ``topk_neighbours``.

    Returns:
        ``{k: recall}`` for each k in ``ks`` (in the given order), recall in [0, 1].
    """
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise InputError(f"ks must be integers >= 1, got {ks}")
    q_feats = torch.as_tensor(query_feats)
    g_feats = torch.as_tensor(gallery_feats)
    if q_feats.ndim != 2 or g_feats.ndim != 2:
        raise ValueError("features must be (N, D)")
    ql = _as_labels(query_labels, q_feats.shape[0], "query_labels")
    gl = _as_labels(gallery_labels, g_feats.shape[0], "gallery_labels")
    if q_feats.shape[0] == 0:
        raise InputError("no query")
    _, idx = topk_neighbours(q_feats, g_feats, max(ks), center=center, chunk_size=chunk_size, device=device)
    idx = idx.cpu()
    hit = gl[idx] == ql[:, None]  # (Q, k')
    first = torch.where(hit.any(1), hit.float().argmax(1), torch.full_like(ql, hit.shape[1]))  # first hit rank
    return {k: (first < min(k, hit.shape[1])).float().mean().item() for k in ks}
