"""Online evaluation while pretraining: ``vssl pretrain --monitor knn``.

Every ``run.monitor_every`` steps (and before the first step and after the last), the kNN
top-1 of the current backbone (for momentum methods the query backbone, ``method.backbone``)
on a fixed subset of a labelled cache: ``run.monitor_videos`` train videos are the gallery and
as many test videos the queries, drawn once from the run's seed, class-balanced (round robin
over the classes in a seeded order). Each video gives ``run.monitor_clips`` evenly spaced clips
at the run's clip options (``vssl eval knn --checkpoint RUN`` takes the same); the value is
``vssl eval knn``'s video-level top-1 (cosine, weighted vote, k = 20, T = 0.07) on these videos:
both go through :func:`vssl.eval.features.embed_clips` and :func:`vssl.eval.knn.video_knn`.

The backbone runs in eval mode without gradients and is put back in the modes it had; the
training's random state is untouched (the loop re-seeds every micro-batch anyway). The decoded
clips are kept in memory after the first call (up to :data:`KEEP_BYTES`), so later calls cost
one forward pass over them.

Layering: train sits below eval, so this module imports ``vssl.eval.features`` and
``vssl.eval.knn`` inside its functions only; neither imports ``vssl.train`` at module level, so
there is no import cycle (``tests/train/test_monitor.py`` checks both directions).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from vssl.errors import InputError

KEEP_BYTES = 1 << 30  # decoded monitor clips kept in memory up to this size (else decoded at every call)
POINTS = 20  # run.monitor_every = 0: about this many values over the run


def monitor_every(every: int, total: int) -> int:
    """Steps between two monitor values: ``every``, or for 0 about :data:`POINTS` over ``total`` steps."""
    return every if every > 0 else max(1, -(-int(total) // POINTS))


def balanced_subset(videos: list, n: int, seed: int, salt: int) -> list:
    """``n`` of ``videos`` (all when fewer), class-balanced: the classes in a seeded order, one video of
    each in turn, each class's videos in a seeded order; returned in cache order."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6B4E4E, salt])
    by_class: dict[int, list[int]] = {}
    for i, v in enumerate(videos):
        by_class.setdefault(int(v.label), []).append(i)
    queues = [list(rng.permutation(by_class[c])) for c in rng.permutation(sorted(by_class))]
    chosen: list[int] = []
    while len(chosen) < min(n, len(videos)):
        for q in queues:
            if q and len(chosen) < n:
                chosen.append(int(q.pop(0)))
    return [videos[i] for i in sorted(chosen)]


def monitor_videos(cache_root: str, split: str, n: int, seed: int) -> tuple[list, list]:
    """The (gallery, query) videos of the kNN monitor: ``n`` labelled train and ``n`` labelled test
    videos of ``split``.

    Raises:
        InputError: no such split, an empty subset, or unlabelled videos (the cache is not labelled).
    """
    from vssl.io.cache import Cache

    cache = Cache(cache_root)
    hint = ("--monitor knn needs a cache with labelled train/test splits (vssl extract --splits DIR, or class "
            "folders); pretrain without --monitor, and evaluate later with vssl eval knn on a labelled cache")
    try:
        sets = [cache.split(split, sub) for sub in ("train", "test")]
    except InputError:
        have = sorted({s for v in cache.videos for s in v.splits})
        raise InputError(f"split {split} not in cache {cache_root} (splits: {', '.join(have) or 'none'}): {hint}") \
            from None
    for sub, vids in zip(("train", "test"), sets):
        labelled = [v for v in vids if v.label is not None]
        if not labelled:
            what = "no videos" if not vids else "no labelled videos"
            raise InputError(f"split {split} of cache {cache_root} has {what} in its {sub} subset: {hint}")
    gallery, query = ([v for v in vids if v.label is not None] for vids in sets)
    return balanced_subset(gallery, n, seed, 0), balanced_subset(query, n, seed, 1)


class KnnMonitor:
    """The kNN monitor of one run; build it on every rank (the checks), call it on rank 0.

    Args:
        cfg: the run's :class:`~vssl.train.config.PretrainConfig`.
        device: the training device.
        batch_size: clips per inference batch (the loop passes its micro-batch, which fits).
    """

    def __init__(self, cfg, device: torch.device, batch_size: int):
        from vssl.eval.features import FeatureOptions, input_of_config, normalization_of_config
        from vssl.eval.session import CLIP_DEFAULTS, config_clip_options
        from vssl.io.cache import Cache
        from vssl.train.config import to_dict

        r = cfg.run
        self.gallery, self.query = monitor_videos(cfg.cache, cfg.data.split, r.monitor_videos, cfg.seed)
        d = to_dict(cfg)
        o = {**CLIP_DEFAULTS, **config_clip_options(d)}
        self.opts = FeatureOptions(clips=r.monitor_clips, clip_len=o["clip_len"], stride=o["stride"],
                                   resize=o["resize"], crop=o["size"], crops=1,
                                   normalize=normalization_of_config(d), input=input_of_config(d))
        self.opts.validate()
        self.cache_root = cfg.cache
        self.num_classes = Cache(cfg.cache).num_classes
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.amp = bool(cfg.run.bf16) and device.type == "cuda"
        self.calls, self.seconds = 0, 0.0
        self._kept: dict[str, list[dict] | None] = {}

    def _batches(self, role: str, videos: list):
        """The collated clip batches of ``videos`` (kept after the first decode when small enough)."""
        from vssl.data.clips import EvalClips, make_loader

        kept = self._kept.get(role)
        if kept is not None:
            return kept
        ds = EvalClips(self.cache_root, [v.id for v in videos], self.opts)
        loader = make_loader(ds, self.batch_size, 0, self.device)
        o = self.opts
        size = len(ds) * o.clip_len * o.crop * o.crop * 3
        if size > KEEP_BYTES:
            return loader
        self._kept[role] = list(loader)
        return self._kept[role]

    def __call__(self, backbone: nn.Module) -> dict[str, Any]:
        """``{"knn_top1", "monitor_seconds"}`` of ``backbone`` now (eval mode, no grad, then as before)."""
        from vssl.eval.features import embed_clips
        from vssl.eval.knn import video_knn

        t0 = time.perf_counter()
        modes = [(m, m.training) for m in backbone.modules()]
        backbone.eval()
        try:
            with torch.no_grad():
                sets = [embed_clips(backbone, self._batches(role, vids), [v.id for v in vids],
                                    [v.label for v in vids], self.opts, self.device, amp=self.amp)
                        for role, vids in (("gallery", self.gallery), ("query", self.query))]
        finally:
            for m, mode in modes:
                m.training = mode
        self.last_features = sets
        _, acc = video_knn(sets[0], sets[1], num_classes=self.num_classes, device=self.device)
        sec = time.perf_counter() - t0
        self.calls += 1
        self.seconds += sec
        return {"knn_top1": acc[1], "monitor_seconds": sec}

    def summary(self, run_seconds: float) -> dict[str, Any]:
        """What run.json records: the subset, the calls and their cost."""
        return {"kind": "knn", "gallery_videos": len(self.gallery), "query_videos": len(self.query),
                "clips": self.opts.clips, "calls": self.calls, "seconds": round(self.seconds, 3),
                "seconds_per_call": round(self.seconds / self.calls, 4) if self.calls else None,
                "fraction": round(self.seconds / run_seconds, 4) if run_seconds > 0 else None}
