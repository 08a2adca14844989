"""Evaluation protocols on frozen features: retrieval, linear probe, k-NN (RECIPES.md, "Evaluation protocols").

Each ``run_*`` function takes an :class:`~vssl.eval.session.EvalSession`
(weights + cache + clip options), gets the cached clip features of the train
and test subsets, computes the protocol's metrics with the pure functions of
:mod:`vssl.eval.retrieval` / :mod:`~vssl.eval.knn` / :mod:`~vssl.eval.linear`,
draws its figures and merges its section into ``EVAL_DIR/metrics.json`` (and
``metrics.csv``). A section is ``{"metrics": {name: value in [0, 1]},
"options": {...}, "figures": [...], ...}``.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch

from vssl.errors import InputError
from vssl.eval import knn
from vssl.eval.features import FeatureSet
from vssl.eval.session import EVAL_FORMAT, METRICS_CSV, METRICS_FILE, EvalSession, read_metrics

RECALL_KS: tuple[int, ...] = (1, 5, 10, 20, 50)


# --------------------------------------------------------------------------- results on disk


def flat_metrics(results: dict[str, Any]) -> dict[str, float]:
    """``{"retrieval/video/R@1": 0.17, ...}`` from the ``results`` of a metrics.json."""
    out: dict[str, float] = {}
    for section, r in results.items():
        for name, v in (r.get("metrics") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"{section}/{name}"] = float(v)
    return out


def write_results(session: EvalSession, section: str, result: dict[str, Any]) -> dict[str, Any]:
    """Merge ``result`` as ``results[section]`` into ``EVAL_DIR/metrics.json`` (atomically) and rewrite metrics.csv."""
    from vssl import __version__
    from vssl.utils.fs import atomic_write_bytes, atomic_write_json

    out = session.out
    out.mkdir(parents=True, exist_ok=True)
    doc = read_metrics(out) or {}
    results = dict(doc.get("results") or {})
    results[section] = result
    doc = {"format": EVAL_FORMAT, "version": 1, "vssl_version": __version__,
           "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), **session.header(), "results": results}
    atomic_write_json(out / METRICS_FILE, doc)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["metric", "value"])
    for k, v in flat_metrics(results).items():
        w.writerow([k, f"{v:.6f}"])
    atomic_write_bytes(out / METRICS_CSV, buf.getvalue().encode())
    return doc


def _opts(session: EvalSession, **extra: Any) -> dict[str, Any]:
    rt = session.cfg.runtime
    return {**asdict(session.cfg.features), "split": session.split, "batch_size": rt.batch_size,
            "device": str(rt.torch_device()), **extra}


def _sizes(train: FeatureSet, test: FeatureSet) -> dict[str, int]:
    return {"train_videos": train.n_videos, "test_videos": test.n_videos, "train_clips": len(train.clip_feats),
            "test_clips": len(test.clip_feats), "feat_dim": int(train.clip_feats.shape[1])}


def confusion(pred: np.ndarray, truth: np.ndarray, c: int) -> np.ndarray:
    """(C, C) int64 counts, rows = true class."""
    cm = np.zeros((c, c), np.int64)
    np.add.at(cm, (np.asarray(truth, np.int64), np.asarray(pred, np.int64)), 1)
    return cm


TSNE_MIN_POINTS = 30  # below this a t-SNE says little (and sklearn still takes seconds): PCA instead
_EMB = {"tsne": "t-SNE", "pca": "PCA"}


def embedding_method(n: int) -> str:
    return "tsne" if n >= TSNE_MIN_POINTS else "pca"


# --------------------------------------------------------------------------- retrieval


@dataclass
class RetrievalOptions:
    ks: Sequence[int] = RECALL_KS
    center: bool = False  # centre features by the gallery mean before L2-normalising
    clip_level: bool = True  # also every test clip against every train clip
    tsne: bool = True


def retrieval_metrics(train: FeatureSet, test: FeatureSet, opts: RetrievalOptions,
                      device: torch.device | str | None = None) -> dict[str, dict[int, float]]:
    """Recall at k, video level (clip features averaged per video) and clip level.

    Query = test, gallery = train; a hit at k = a gallery item of the query's
    class among the k most similar (cosine; centred first with ``center``).
    """
    from vssl.eval.retrieval import retrieval_recall

    out = {"video": retrieval_recall(test.video_feats(), test.labels, train.video_feats(), train.labels, opts.ks,
                                     center=opts.center, device=device)}
    if opts.clip_level:
        out["clip"] = retrieval_recall(test.clip_feats, test.clip_labels, train.clip_feats, train.clip_labels,
                                       opts.ks, center=opts.center, device=device)
    return out


def feature_spectrum(feats: np.ndarray) -> dict[str, Any]:
    """Singular values of the centred features ``(N, D)`` (descending, float64) and their effective
    rank ``exp(entropy of s / sum s)`` (Roy & Vetterli 2007): the collapse measure of DirectCLR
    (Jing et al., ICLR 2022), between 1 and ``min(N - 1, D)``."""
    x = np.asarray(feats)
    if x.ndim != 2 or x.shape[0] < 2:
        return {"singular_values": [], "effective_rank": None}
    mean = x.mean(axis=0, dtype=np.float64)
    cov = np.zeros((x.shape[1], x.shape[1]))
    for i in range(0, x.shape[0], 8192):  # float64 scatter matrix in chunks: D x D memory, not N x D
        xc = x[i:i + 8192].astype(np.float64) - mean
        cov += xc.T @ xc
    s = np.sqrt(np.clip(np.linalg.eigvalsh(cov), 0, None))[::-1]  # singular values of the centred features
    q = s / s.sum() if s.sum() > 0 else s
    q = q[q > 0]
    return {"singular_values": [float(v) for v in s], "effective_rank": float(np.exp(-(q * np.log(q)).sum()))}


def run_retrieval(session: EvalSession, opts: RetrievalOptions | None = None) -> dict[str, Any]:
    """Nearest-neighbour retrieval; writes metrics, ``retrieval_recall.png``, ``tsne_test.png`` and
    ``spectrum_train.png`` (singular values of the train clip features, :func:`feature_spectrum`)."""
    from vssl.eval.plots import plot_embedding, plot_recall_curves, plot_spectrum

    opts = opts or RetrievalOptions()
    session.require("test", "train")
    train, test = session.features("train"), session.features("test")
    t0 = time.perf_counter()
    rec = retrieval_metrics(train, test, opts, device=session.cfg.runtime.torch_device())
    figures = [str(plot_recall_curves({f"{lvl} level": r for lvl, r in rec.items()},
                                      session.out / "retrieval_recall.png",
                                      title=f"Retrieval, split {session.split} (test -> train)"))]
    if opts.tsne:
        method = embedding_method(test.n_videos)
        figures.append(str(plot_embedding(test.video_feats(), test.labels, session.class_names,
                                          session.out / "tsne_test.png", seed=session.cfg.seed, method=method,
                                          title=f"{_EMB[method]} of {test.n_videos} test videos (by class)")))
    spectrum = feature_spectrum(train.clip_feats)
    if spectrum["singular_values"]:
        figures.append(str(plot_spectrum({"train clips": spectrum["singular_values"]}, session.out / "spectrum_train.png",
                                         title=f"Feature spectrum, {len(train.clip_feats)} train clips "
                                               f"(effective rank {spectrum['effective_rank']:.1f})")))
    result = {
        "metrics": {f"{lvl}/R@{k}": v for lvl, r in rec.items() for k, v in r.items()},
        "recall": {lvl: {str(k): v for k, v in r.items()} for lvl, r in rec.items()},
        "options": _opts(session, ks=list(opts.ks), center=opts.center),
        "sizes": _sizes(train, test),
        "seconds": {"features": train.seconds + test.seconds, "metrics": time.perf_counter() - t0},
        "features_cached": train.cached and test.cached,
        "spectrum": spectrum,
        "figures": figures,
    }
    write_results(session, "retrieval", result)
    return result


# --------------------------------------------------------------------------- linear probe


@dataclass
class LinearOptions:
    method: str = "sgd"  # sgd | lbfgs
    epochs: int = 100
    lr: float = 0.1
    wd: float = 0.0
    batch_size: int = 256


def run_linear(session: EvalSession, opts: LinearOptions | None = None) -> dict[str, Any]:
    """Linear probe on frozen clip features; video-level top-1/top-5 by averaging clip softmax.

    Writes metrics and ``confusion_linear.png`` (video level).
    """
    from vssl.eval.linear import accuracy_topk, predict_logits, train_linear_probe, video_level
    from vssl.eval.plots import plot_confusion

    opts = opts or LinearOptions()
    session.require("test", "train")
    train, test = session.features("train"), session.features("test")
    c = len(session.class_names)
    dev = session.cfg.runtime.torch_device()
    losses: list[float] = []
    t0 = time.perf_counter()
    probe = train_linear_probe(train.clip_feats, train.clip_labels, c, method=opts.method, epochs=opts.epochs,
                               lr=opts.lr, wd=opts.wd, batch_size=opts.batch_size, seed=session.cfg.seed,
                               device=dev, callback=lambda e, l: losses.append(l))
    logits = predict_logits(probe, test.clip_feats)
    vid = video_level(logits, test.video_index, num_videos=test.n_videos)
    acc = accuracy_topk(vid, test.labels, (1, 5))
    clip_acc = accuracy_topk(logits, test.clip_labels, (1,))
    train_acc = accuracy_topk(predict_logits(probe, train.clip_feats), train.clip_labels, (1,))
    cm = confusion(vid.argmax(1).numpy(), test.labels, c)
    fig = plot_confusion(cm, session.class_names, session.out / "confusion_linear.png",
                         title=f"Linear probe ({opts.method}), video level")
    result = {
        "metrics": {"top1": acc[1], "top5": acc[5], "clip_top1": clip_acc[1], "train_clip_top1": train_acc[1]},
        "options": _opts(session, **asdict(opts)),
        "sizes": _sizes(train, test),
        "loss": losses,
        "confusion": cm.tolist(),
        "seconds": {"features": train.seconds + test.seconds, "probe": time.perf_counter() - t0},
        "features_cached": train.cached and test.cached,
        "figures": [str(fig)],
    }
    write_results(session, "linear", result)
    return result


# --------------------------------------------------------------------------- kNN


@dataclass
class KnnOptions:
    k: int = knn.K
    temperature: float = knn.TEMPERATURE


def run_knn(session: EvalSession, opts: KnnOptions | None = None) -> dict[str, Any]:
    """Weighted k-NN classification (InstDisc vote) of test videos among train videos.

    Video level: video features (clip mean) against train video features.
    Clip level: every test clip votes among train clips; vote shares are
    averaged over a video's clips. Writes ``confusion_knn.png`` (video level).
    """
    from vssl.eval.knn import knn_classify, video_knn
    from vssl.eval.linear import accuracy_topk, video_level
    from vssl.eval.plots import plot_confusion

    opts = opts or KnnOptions()
    if opts.k < 1:
        raise InputError(f"--k must be >= 1 (got {opts.k})")
    session.require("test", "train")
    train, test = session.features("train"), session.features("test")
    c = len(session.class_names)
    dev = session.cfg.runtime.torch_device()
    t0 = time.perf_counter()
    scores, acc = video_knn(train, test, num_classes=c, k=opts.k, temperature=opts.temperature, device=dev)
    _, clip_scores = knn_classify(train.clip_feats, train.clip_labels, test.clip_feats, num_classes=c, k=opts.k,
                                  temperature=opts.temperature, device=dev)
    clip_vid = video_level(clip_scores, test.video_index, num_videos=test.n_videos, average="logits")
    clip_acc = accuracy_topk(clip_vid, test.labels, (1, 5))
    cm = confusion(scores.argmax(1).numpy(), test.labels, c)
    fig = plot_confusion(cm, session.class_names, session.out / "confusion_knn.png",
                         title=f"{opts.k}-NN, video level")
    result = {
        "metrics": {"top1": acc[1], "top5": acc[5], "clip_vote/top1": clip_acc[1], "clip_vote/top5": clip_acc[5]},
        "options": _opts(session, **asdict(opts)),
        "sizes": _sizes(train, test),
        "confusion": cm.tolist(),
        "seconds": {"features": train.seconds + test.seconds, "knn": time.perf_counter() - t0},
        "features_cached": train.cached and test.cached,
        "figures": [str(fig)],
    }
    write_results(session, "knn", result)
    return result
