"""Linear probe on frozen features, top-k accuracy, and video-level aggregation of clip predictions.

The probe is fitted on standardised features (zero mean, unit variance per
dimension, statistics of the training set), then the standardisation is folded
into the returned ``nn.Linear``, which therefore takes raw features.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vssl.errors import InputError
from vssl.eval.retrieval import stable_topk

PROBE_METHODS = ("sgd", "lbfgs")


def _standardisation(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-dimension mean and std of ``x`` (N, D); a constant dimension gets std 1."""
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return mean, std


def _fold(weight: Tensor, bias: Tensor, mean: Tensor, std: Tensor) -> nn.Linear:
    """``nn.Linear`` computing ``weight @ ((x - mean) / std) + bias`` from raw ``x``."""
    w = weight / std  # (C, D)
    b = bias - w @ mean
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    return lin


def train_linear_probe(
    train_x,
    train_y,
    num_classes: int,
    *,
    method: str = "sgd",
    epochs: int = 100,
    lr: float = 0.1,
    wd: float = 0.0,
    momentum: float = 0.9,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str = "cpu",
    max_iter: int = 1000,
    callback: Callable[[int, float], None] | None = None,
) -> nn.Linear:
    """Fit a softmax classifier on frozen features.

    Args:
        train_x: (N, D) float features (tensor or array).
        train_y: (N,) int labels in [0, num_classes).
        num_classes: C.
        method: ``"sgd"``: minibatch SGD with momentum, cosine learning rate over
            ``epochs``, zero init; ``"lbfgs"``: scikit-learn ``LogisticRegression``
            (multinomial, L-BFGS, ``max_iter``), deterministic.
        epochs, lr, momentum, batch_size: SGD only.
        wd: L2 penalty on the weights (not the bias), as SGD weight decay:
            the objective is mean cross-entropy + ``wd / 2 * |W|^2`` (for lbfgs,
            ``C = 1 / (wd * N)``; 0 = no penalty).
        seed: shuffling (sgd) / solver seed.
        device: where SGD runs and where the returned layer lives.
        callback: called as ``callback(epoch, mean_loss)`` after each SGD epoch.

    Returns:
        ``nn.Linear(D, C)`` on ``device`` taking raw (unstandardised) features and
        giving logits; classes absent from ``train_y`` get a bias of -1e4 with lbfgs.
    """
    if method not in PROBE_METHODS:
        raise InputError(f"linear probe method must be one of {', '.join(PROBE_METHODS)}, got {method!r}")
    for name, v, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("num_classes", num_classes, 1),
                        ("max_iter", max_iter, 1)):
        if v < lo:
            raise InputError(f"{name} must be >= {lo}, got {v}")
    if lr <= 0 or wd < 0:
        raise InputError(f"need lr > 0 and wd >= 0, got lr={lr}, wd={wd}")
    x = torch.as_tensor(train_x).float()
    y = torch.as_tensor(train_y).reshape(-1).long()
    if x.ndim != 2 or x.shape[0] != y.numel():
        raise ValueError(f"train_x must be (N, D) with N = len(train_y), got {tuple(x.shape)} and {y.numel()}")
    if x.shape[0] == 0:
        raise InputError("no training samples for the linear probe")
    if y.min() < 0 or y.max() >= num_classes:
        raise InputError(f"labels must lie in [0, {num_classes}), got {y.min().item()}..{y.max().item()}")
    if not torch.isfinite(x).all():
        raise InputError("train_x contains NaN or infinite values")
    dev = torch.device(device)
    mean, std = _standardisation(x)
    z = (x - mean) / std
    if method == "lbfgs":
        w, b = _fit_lbfgs(z, y, num_classes, wd=wd, seed=seed, max_iter=max_iter)
    else:
        w, b = _fit_sgd(z.to(dev), y.to(dev), num_classes, epochs=epochs, lr=lr, wd=wd, momentum=momentum,
                        batch_size=batch_size, seed=seed, callback=callback)
    return _fold(w.cpu(), b.cpu(), mean, std).to(dev)


def _fit_sgd(z: Tensor, y: Tensor, c: int, *, epochs: int, lr: float, wd: float, momentum: float,
             batch_size: int, seed: int, callback) -> tuple[Tensor, Tensor]:
    n, d = z.shape
    lin = nn.Linear(d, c).to(z.device)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    opt = torch.optim.SGD([{"params": [lin.weight], "weight_decay": wd}, {"params": [lin.bias], "weight_decay": 0.0}],
                          lr=lr, momentum=momentum)
    steps = math.ceil(n / batch_size)
    total = epochs * steps
    gen = torch.Generator().manual_seed(seed)
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen).to(z.device)
        loss_sum = torch.zeros((), device=z.device)
        for s in range(0, n, batch_size):
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            i = perm[s:s + batch_size]
            loss = nn.functional.cross_entropy(lin(z[i]), y[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * i.numel()
            step += 1
        if callback is not None:
            callback(epoch, (loss_sum / n).item())
    return lin.weight.detach(), lin.bias.detach()


def _fit_lbfgs(z: Tensor, y: Tensor, c: int, *, wd: float, seed: int, max_iter: int) -> tuple[Tensor, Tensor]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    n, d = z.shape
    present = torch.unique(y)
    w = torch.zeros(c, d, dtype=torch.float64)
    b = torch.full((c,), -1e4, dtype=torch.float64)
    if present.numel() == 1:  # one class only: it always wins
        b[present] = 0.0
        return w.float(), b.float()
    # sklearn: C * sum(loss) + |W|^2 / 2  ==  N * C * (mean loss + |W|^2 / (2 N C)), so wd = 1 / (N C).
    clf = LogisticRegression(C=np.inf if wd == 0 else 1.0 / (wd * n), max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(z.double().numpy(), y.numpy())
    coef = torch.from_numpy(clf.coef_)
    inter = torch.from_numpy(clf.intercept_)
    cls = torch.from_numpy(clf.classes_).long()
    if coef.shape[0] == 1:  # binary: p(cls[1]) = sigmoid(coef x + b), i.e. logits (0, coef x + b)
        coef = torch.cat([torch.zeros_like(coef), coef])
        inter = torch.cat([torch.zeros_like(inter), inter])
    w[cls] = coef
    b[cls] = inter
    return w.float(), b.float()


@torch.no_grad()
def predict_logits(probe: nn.Module, x, *, batch_size: int = 65536) -> Tensor:
    """Logits (N, C) on the CPU of ``probe`` applied to features ``x`` (N, D), in batches."""
    p = next(probe.parameters())
    x = torch.as_tensor(x)
    return torch.cat([probe(x[s:s + batch_size].to(p.device, p.dtype)).cpu() for s in range(0, len(x), batch_size)]
                     or [torch.empty(0, probe.out_features)])


def accuracy_topk(logits, labels, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Fraction of rows whose label is among the k highest scores.

    Args:
        logits: (N, C) scores (logits, probabilities, votes).
        labels: (N,) int labels.
        ks: the k values; a k above C counts as C.

    Returns:
        ``{k: accuracy}`` in [0, 1]; equal scores rank the lower class first.
    """
    s = torch.as_tensor(logits).float()
    t = torch.as_tensor(labels).reshape(-1).long()
    if s.ndim != 2 or s.shape[0] != t.numel():
        raise ValueError(f"logits must be (N, C) with N = len(labels), got {tuple(s.shape)} and {t.numel()}")
    if s.shape[0] == 0:
        raise InputError("accuracy of no sample")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise InputError(f"ks must be integers >= 1, got {ks}")
    kk = min(max(ks), s.shape[1])
    _, top = stable_topk(torch.nan_to_num(s, nan=-torch.inf), kk)
    hit = top == t[:, None]  # (N, kk), at most one True per row
    return {k: hit[:, :min(k, kk)].any(1).float().mean().item() for k in ks}


def video_level(clip_logits, clip_video_index, *, num_videos: int | None = None,
                average: str = "softmax") -> Tensor:
    """Video predictions by averaging the predictions of its clips.

    Args:
        clip_logits: (N, C) logits of N clips.
        clip_video_index: (N,) int: the video (0..V-1) of each clip.
        num_videos: V; default ``max(clip_video_index) + 1``. Every video needs a clip.
        average: ``"softmax"``: mean of the clip softmax probabilities (the usual
            10-clip x 3-crop test); ``"logits"``: mean of the logits.

    Returns:
        (V, C) float32: mean probabilities (or logits) per video.
    """
    s = torch.as_tensor(clip_logits).float()
    v = torch.as_tensor(clip_video_index).reshape(-1).long()
    if s.ndim != 2 or s.shape[0] != v.numel():
        raise ValueError(
            f"clip_logits must be (N, C) with N = len(clip_video_index), got {tuple(s.shape)}, {v.numel()}"
        )
    if average not in ("softmax", "logits"):
        raise InputError(f"average must be 'softmax' or 'logits', got {average!r}")
    if v.numel() and v.min() < 0:
        raise InputError(f"clip_video_index must be >= 0, got {v.min().item()}")
    nv = (int(v.max()) + 1 if v.numel() else 0) if num_videos is None else int(num_videos)
    if v.numel() and v.max() >= nv:
        raise InputError(f"clip_video_index {v.max().item()} >= num_videos {nv}")
    counts = torch.bincount(v, minlength=nv)
    if nv and counts.min() == 0:
        empty = (counts == 0).nonzero()[:, 0]
        raise InputError(f"{empty.numel()} video(s) have no clip (first: index {empty[0].item()})")
    if average == "softmax":
        s = s.softmax(1)
    out = torch.zeros(nv, s.shape[1]).index_add_(0, v, s)
    return out / counts[:, None]


def video_labels(clip_labels, clip_video_index, *, num_videos: int | None = None) -> Tensor:
    """(V,) label per video from the labels of its clips, which must agree."""
    y = torch.as_tensor(clip_labels).reshape(-1).long()
    v = torch.as_tensor(clip_video_index).reshape(-1).long()
    if y.numel() != v.numel():
        raise ValueError(f"{y.numel()} clip labels for {v.numel()} clip video indices")
    nv = (int(v.max()) + 1 if v.numel() else 0) if num_videos is None else int(num_videos)
    out = torch.full((nv,), -1, dtype=torch.long)
    out[v] = y
    bad = (out[v] != y).nonzero()
    if bad.numel():
        i = bad[0, 0].item()
        raise InputError(f"clips of video {v[i].item()} have different labels ({out[v[i]].item()} and {y[i].item()})")
    if (out < 0).any():
        raise InputError(f"video {(out < 0).nonzero()[0, 0].item()} has no clip")
    return out
