"""Clips of cached videos for evaluation and finetuning, decoded in DataLoader workers.

:class:`EvalClips` gives the test clips of a video (evenly spaced, short side resized, one or
three square crops), :class:`TrainClips` one random clip per video and epoch for finetuning
(covering a fixed load size). Both read with one clip sampling (:mod:`vssl.data.sampling`) and
one decode and resize (:mod:`vssl.data.frames`), as the pretraining dataset
(:mod:`vssl.data.dataset`) does. Each worker opens its own HDF5 handles
(:class:`vssl.io.cache.Cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from vssl.data.frames import cover_crop, decode_frames, resize_short, spatial_crops
from vssl.data.sampling import clip_indices, clip_span, even_starts, last_start
from vssl.errors import CacheError

TRAIN_RNG_TAG = 0xF17E  # TrainClips' clip draw: (seed, epoch, index, tag), independent of workers and resumes


class ClipGeometry(Protocol):
    """What :class:`EvalClips` reads of its options (:class:`vssl.eval.features.FeatureOptions` has them)."""

    clips: int
    clip_len: int
    stride: int
    resize: int
    crop: int
    crops: int


class CacheClips(torch.utils.data.Dataset):
    """The videos ``video_ids`` of a cache and a reader of their clips of ``clip_len`` frames every ``stride``."""

    def __init__(self, cache_root: str | Path, video_ids: Sequence[str], clip_len: int, stride: int):
        from vssl.io.cache import Cache

        self.cache = Cache(cache_root)
        self.videos = [self.cache.video(v) for v in video_ids]
        self.clip_len, self.stride = clip_len, stride
        self.span = clip_span(clip_len, stride)

    def __len__(self) -> int:
        return len(self.videos)

    def read_clip(self, vi: int, t0: int, fn: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """uint8 (T, H, W, 3) RGB of video ``vi``'s clip starting at ``t0``, ``fn`` applied to each frame."""
        v = self.videos[vi]
        t = clip_indices(t0, self.clip_len, self.stride, v.n_frames)
        return decode_frames(self.cache.read_frames_jpeg(v.id, t), fn)


class EvalClips(CacheClips):
    """Item ``i`` = clip ``i % clips`` of video ``i // clips``, as uint8 ``(crops, T, crop, crop, 3)``.

    Items: ``{"clip": uint8 array, "video": int, "clip_index": int}``. ``opts``: a
    :class:`ClipGeometry`, validated first when it has a ``validate()``.
    """

    def __init__(self, cache_root: str | Path, video_ids: Sequence[str], opts: ClipGeometry):
        if callable(getattr(opts, "validate", None)):
            opts.validate()
        super().__init__(cache_root, video_ids, opts.clip_len, opts.stride)
        if not self.cache.options.get("frames", True):
            raise CacheError(f"cache {cache_root} has no frames (extracted with --no-frames): evaluation needs them")
        self.opts = opts
        self.starts = [even_starts(v.n_frames, self.span, opts.clips) for v in self.videos]

    def __len__(self) -> int:
        return len(self.videos) * self.opts.clips

    def frames(self, vi: int, t0: int) -> np.ndarray:
        """uint8 (T, H', W', 3) RGB of the clip starting at ``t0``, short side resized."""
        return self.read_clip(vi, t0, lambda im: resize_short(im, self.opts.resize))

    def __getitem__(self, i: int) -> dict[str, Any]:
        vi, ci = divmod(int(i), self.opts.clips)
        with self.cache.reading(self.videos[vi].id):  # one line naming video, shard and `vssl verify`
            fr = self.frames(vi, int(self.starts[vi][ci]))
        return {"clip": spatial_crops(fr, self.opts.crop, self.opts.crops), "video": vi, "clip_index": ci}


class TrainClips(CacheClips):
    """Key ``(index, epoch)`` -> ``{"clip": uint8 (T, H, W, 3), "label": int}`` with a random start.

    The start is drawn uniformly from ``(seed, epoch, index)``; frames cover ``hw`` and are
    centre-cropped to it (:func:`vssl.data.frames.cover_crop`).
    """

    def __init__(self, cache_root: str | Path, video_ids: Sequence[str], clip_len: int, stride: int,
                 hw: tuple[int, int], seed: int):
        super().__init__(cache_root, video_ids, clip_len, stride)
        self.hw, self.seed = hw, seed

    def __getitem__(self, key) -> dict[str, Any]:
        index, epoch = (int(key), 0) if isinstance(key, (int, np.integer)) else (int(key[0]), int(key[1]))
        v = self.videos[index]
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, epoch, index, TRAIN_RNG_TAG])
        t0 = int(rng.integers(0, last_start(v.n_frames, self.span) + 1))
        with self.cache.reading(v.id):  # one line naming video, shard and `vssl verify`
            frames = self.read_clip(index, t0, lambda im: cover_crop(im, *self.hw))
        return {"clip": frames, "label": int(v.label)}


def make_loader(ds: torch.utils.data.Dataset, batch_size: int, workers: int, device: torch.device,
                shuffle: bool = False, batch_sampler=None) -> torch.utils.data.DataLoader:
    """The DataLoader of clip datasets: pinned memory on CUDA, workers that leave stop signals to the main process
    (finetune finishes its step and saves); ``batch_sampler`` replaces ``batch_size`` / ``shuffle``."""
    from vssl.signals import ignore_stop_signals

    kw: dict[str, Any] = {}
    if workers > 0:
        kw.update(prefetch_factor=4, persistent_workers=False, worker_init_fn=ignore_stop_signals)
    if batch_sampler is not None:
        return torch.utils.data.DataLoader(ds, batch_sampler=batch_sampler, num_workers=workers,
                                           pin_memory=device.type == "cuda", **kw)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                       pin_memory=device.type == "cuda", drop_last=False, **kw)
