"""Confidence intervals for the science benchmark: a two-level bootstrap over seeds and test videos.

An outcome table ``values`` has one row per seed (a pretraining run) and one column per
test video (the query): e.g. 1 if the video's nearest gallery video has its class, else 0.
The statistic is the mean over both. Its sampling variation has two sources, the
training run (seed) and the finite test set (videos); :func:`bootstrap_ci` resamples
both, with replacement and independently (rows, then columns), and reports the
percentile interval. A paired difference (method minus baseline, the same seeds'
indices and the same test videos) is the bootstrap of the difference table, which is
narrower than the two intervals suggest because both share the test videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval (``lo``, ``hi``) at level ``level``."""

    mean: float
    lo: float
    hi: float
    level: float = 0.95

    def excludes_zero(self) -> bool:
        return self.lo > 0.0 or self.hi < 0.0

    def as_dict(self) -> dict:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "level": self.level}


def _table(values, level: float, n_boot: int) -> np.ndarray:
    """``values`` as a (seeds, videos) float table, checked (see :func:`bootstrap_ci`)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2 or v.size == 0:
        raise ValueError(f"values must be a non-empty (seeds, videos) table, got shape {np.shape(values)}")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    return v


def _replicates(v: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) means of ``v`` resampled two-level: ``S`` seed rows, then ``Q`` video columns, with
    replacement (only the videos with one seed)."""
    s, q = v.shape
    rows = rng.integers(s, size=(n_boot, s)) if s > 1 else np.zeros((n_boot, 1), np.int64)
    cols = rng.integers(q, size=(n_boot, q))
    # mean over resampled rows of each column, then over resampled columns
    col_means = v[rows].mean(axis=1)  # (n_boot, Q): per-video mean over the drawn seeds
    return np.take_along_axis(col_means, cols, axis=1).mean(axis=1)


def _interval(mean: float, reps: np.ndarray, level: float) -> Interval:
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [a, 1.0 - a])
    return Interval(float(mean), float(lo), float(hi), level)


def bootstrap_ci(values, *, n_boot: int = 4000, level: float = 0.95, seed: int = 0) -> Interval:
    """Mean of ``values`` (seeds x videos, or 1-D: one seed) with a two-level percentile bootstrap.

    Each replicate draws ``S`` seed rows and ``Q`` video columns with replacement and takes
    the mean of the resampled table. With one seed only the videos are resampled.

    Raises:
        ValueError: empty table, non-finite values, ``level`` outside (0, 1), ``n_boot`` < 1.
    """
    v = _table(values, level, n_boot)
    return _interval(v.mean(), _replicates(v, n_boot, np.random.default_rng(seed)), level)


def paired_difference(a, b, **kw) -> Interval:
    """:func:`bootstrap_ci` of ``a - b`` (same shape: the same seeds' indices and test videos)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired tables must have the same shape, got {a.shape} and {b.shape}")
    return bootstrap_ci(a - b, **kw)


def pooled_ci(tables, *, n_boot: int = 4000, level: float = 0.95, seed: int = 0) -> Interval:
    """Mean over several independent (seeds x videos) tables, e.g. the same comparison on
    datasets generated from different seeds (replications), with a stratified bootstrap:
    each replicate resamples every table as :func:`bootstrap_ci` does, on its own, and
    weights each table's mean by its number of cells (the mean of all cells).

    Raises:
        ValueError: no table, or a table :func:`bootstrap_ci` refuses.
    """
    vs = [_table(t, level, n_boot) for t in tables]
    if not vs:
        raise ValueError("pooled_ci needs at least one table")
    w = np.array([v.size for v in vs], np.float64) / sum(v.size for v in vs)
    reps = sum(wk * _replicates(v, n_boot, np.random.default_rng([seed, k])) for k, (wk, v) in enumerate(zip(w, vs)))
    return _interval(sum(wk * v.mean() for wk, v in zip(w, vs)), reps, level)
