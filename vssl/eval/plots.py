"""Figures of evaluation results, written as image files (PNG, PDF or SVG by the suffix).

Figures are drawn on ``matplotlib.figure.Figure`` objects rendered by the Agg
backend, without pyplot: no global state, no display needed, and the backend of
a caller (a notebook) is left alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from vssl.errors import InputError

_MAX_LEGEND_CLASSES = 20  # above this, classes are told apart by colour only
_MAX_TICK_LABELS = 60  # confusion matrices with more classes show every n-th name


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    import io

    from vssl.utils.fs import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()  # then tmp + fsync + rename: a killed run leaves no truncated PNG under the real name
    fig.savefig(buf, dpi=150, format=path.suffix.lstrip(".") or "png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_recall_curves(results: Mapping[str, Mapping[int, float]], path, *, title: str = "Video retrieval") -> Path:
    """Recall at k (percent) against k (log scale), one line per run.

    Args:
        results: run name -> ``{k: recall in [0, 1]}`` (as ``retrieval_recall`` returns).
        path: image file to write.

    Returns:
        ``path``.
    """
    if not results:
        raise InputError("no retrieval results to plot")
    fig = _figure(6.4, 4.4)
    ax = fig.add_subplot()
    all_ks = sorted({int(k) for r in results.values() for k in r})
    for name, r in results.items():
        ks = sorted(r)
        vals = [100 * r[k] for k in ks]
        (line,) = ax.plot(ks, vals, marker="o", label=f"{name} (R@{ks[0]} {vals[0]:.1f})")
        for k, v in zip(ks, vals):
            ax.annotate(f"{v:.1f}", (k, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7,
                        color=line.get_color())
    if len(all_ks) > 1:
        ax.set_xscale("log")
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.minorticks_off()
    ax.set_xlabel("k")
    ax.set_ylabel("recall at k (%)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_confusion(cm, class_names: Sequence[str] | None, path, *, normalize: bool = True,
                   title: str = "Confusion matrix") -> Path:
    """Confusion matrix as an image; rows = true class, columns = predicted.

    Args:
        cm: (C, C) counts, ``cm[i, j]`` = samples of class i predicted j.
        class_names: C names, or None for indices.
        path: image file to write.
        normalize: show each row as fractions of the class (the colour scale is 0..1).

    Returns:
        ``path``. Cells are annotated when C <= 15; above 60 classes only every
        n-th name is written.
    """
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise InputError(f"confusion matrix must be square and non-empty, got shape {m.shape}")
    c = m.shape[0]
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c:
        raise InputError(f"{len(names)} class names for a {c}x{c} confusion matrix")
    if normalize:
        rows = m.sum(1, keepdims=True)
        m = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    side = min(max(5.0, 0.16 * c + 2.5), 24.0)
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1 if normalize else None, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "count")
    step = max(1, math.ceil(c / _MAX_TICK_LABELS))
    ticks = list(range(0, c, step))
    fs = 8 if c <= 30 else 6
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=90, fontsize=fs)
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=fs)
    if c <= 15:
        hi = m.max() if m.max() > 0 else 1
        for i in range(c):
            for j in range(c):
                v = m[i, j]
                ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * hi else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(np.asarray(cm, dtype=np.float64)) / max(np.asarray(cm).sum(), 1)
    ax.set_title(f"{title} (accuracy {100 * acc:.1f}%)")
    return _save(fig, path)


def embed_2d(feats, *, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates (N, 2) of L2-normalised features (N, D) by t-SNE or PCA.

    t-SNE perplexity is ``min(30, (N - 1) / 3)`` (it must stay below N); fewer
    than 5 points use PCA.
    """
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"features must be (N, D) with N > 0, got shape {x.shape}")
    if method not in ("tsne", "pca"):
        raise InputError(f"embedding method must be 'tsne' or 'pca', got {method!r}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = x.shape[0]
    if method == "pca" or n < 5:
        xc = x - x.mean(0)
        u, s, _ = np.linalg.svd(xc, full_matrices=False)
        out = np.zeros((n, 2))
        r = min(2, s.shape[0])
        out[:, :r] = u[:, :r] * s[:r]
        return out
    from sklearn.manifold import TSNE

    perplexity = max(1.0, min(30.0, (n - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(x)


def plot_embedding(feats, labels, class_names: Sequence[str] | None, path, *, method: str = "tsne",
                   max_points: int = 5000, seed: int = 0, title: str | None = None) -> Path:
    """Scatter plot of a 2-D embedding (t-SNE or PCA) of features, coloured by class.

    Args:
        feats: (N, D) features.
        labels: (N,) int labels, or None (one colour).
        class_names: names by label (for the legend, shown up to 20 classes), or None.
        path: image file to write.
        method: ``"tsne"`` (scikit-learn, perplexity adjusted to N) or ``"pca"``.
        max_points: a random subset (``seed``) of this many points is drawn when N is larger.

    Returns:
        ``path``.
    """
    x = np.asarray(feats)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"features must be (N, D) with N > 0, got shape {x.shape}")
    y = None if labels is None else np.asarray(labels).reshape(-1).astype(np.int64)
    if y is not None and y.shape[0] != x.shape[0]:
        raise InputError(f"{y.shape[0]} labels for {x.shape[0]} feature rows")
    if x.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(x.shape[0], max_points, replace=False))
        x = x[keep]
        y = None if y is None else y[keep]
    xy = embed_2d(x, method=method, seed=seed)
    fig = _figure(7.0, 6.0)
    ax = fig.add_subplot()
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
    else:
        classes = np.unique(y)
        cmap = _class_colours(len(classes))
        for i, c in enumerate(classes):
            m = y == c
            name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)
            ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.8, color=cmap[i], label=name)
        if len(classes) <= _MAX_LEGEND_CLASSES:
            ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{'t-SNE' if method == 'tsne' else 'PCA'} of {x.shape[0]} features")
    return _save(fig, path)


def _class_colours(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]


def plot_loss_curves(runs: Mapping[str, Sequence[tuple[float, float]]], path, *, smooth: float = 0.0,
                     log_y: bool = False, title: str = "Training loss", ylabel: str = "loss") -> Path:
    """Loss (or another logged value, ``ylabel``) against step, one line per run.

    Args:
        runs: run name -> ``[(step, loss), ...]``.
        path: image file to write.
        smooth: EMA factor in [0, 1); when > 0 the raw curve is drawn faint under
            the smoothed one.
        log_y: logarithmic loss axis (losses must be > 0).

    Returns:
        ``path``.
    """
    if not runs:
        raise InputError("no loss curves to plot")
    if not 0 <= smooth < 1:
        raise InputError(f"smooth must be in [0, 1), got {smooth}")
    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot()
    for name, pts in runs.items():
        if len(pts) == 0:
            continue
        a = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        steps, loss = a[:, 0], a[:, 1]
        if smooth > 0:
            (raw,) = ax.plot(steps, loss, alpha=0.25, linewidth=0.8)
            ax.plot(steps, _ema(loss, smooth), color=raw.get_color(), linewidth=1.5, label=name)
        else:
            ax.plot(steps, loss, linewidth=1.2, label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def _ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard); NaNs are skipped."""
    out = np.empty_like(x)
    m, w = 0.0, 0.0
    for i, v in enumerate(x):
        if np.isfinite(v):
            m = alpha * m + (1 - alpha) * v
            w = alpha * w + (1 - alpha)
        out[i] = m / w if w > 0 else np.nan
    return out


def plot_spectrum(spectra: Mapping[str, Sequence[float]], path, *, title: str = "Singular-value spectrum") -> Path:
    """Log singular values against their rank, one line per entry (DirectCLR, Jing et al. 2022,
    fig. 3: dimensional collapse shows as a tail that drops to zero).

    Args:
        spectra: name -> singular values in descending order (any scale: each line is
            divided by its largest value); zeros are drawn at the floor 1e-8.
        path: image file to write.
    """
    if not spectra:
        raise InputError("no spectra to plot")
    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot()
    for name, sv in spectra.items():
        s = np.asarray(sv, dtype=np.float64).ravel()
        if s.size == 0 or not s[0] > 0:
            continue
        ax.plot(np.arange(1, s.size + 1), np.log10(np.maximum(s / s[0], 1e-8)), linewidth=1.2, label=name)
    ax.set_xlabel("singular value rank")
    ax.set_ylabel("log10 singular value (/ largest)")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)
