"""How well the data pipeline feeds pretraining: the same training step fed (a) from
synthetic tensors already on the device and (b) from a cache through the DataLoader.

(a) is the ceiling the model and optimiser allow (RECIPES.md: R3D-18 on one H100,
two views of 16 x 112 x 112: 382 clips/s fp32 ... 1 263 bf16 + channels_last +
compile); (b) / (a) says how much of it the cache, JPEG decoding and the loader
deliver, and ``data_wait`` which fraction of (b)'s wall time the step waited for
the next batch. Wired to ``vssl bench pretrain``.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import torch

from vssl import dist as D


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(eng, next_batch, warmup: int, steps: int) -> tuple[float, float]:
    """(seconds, seconds waiting for data) of ``steps`` train steps after ``warmup`` untimed ones."""
    from vssl.train.engine import train_step

    for s in range(warmup):
        train_step(eng, next_batch, s)
    _sync(eng.device)
    t0, wait = time.perf_counter(), 0.0
    for s in range(warmup, warmup + steps):
        loss, _, w = train_step(eng, next_batch, s)
        wait += w
    loss.item()  # include the last step's work
    _sync(eng.device)
    return time.perf_counter() - t0, wait


def bench_pretrain(
    method: str,
    backbone: str = "r3d_18",
    cache: str | Path | None = None,
    steps: int = 20,
    batch_size: int = 32,
    device: str = "auto",
    *,
    clip_len: int | None = None,
    crop: int | None = None,
    load_size: tuple[int, int] | None = None,
    workers: int = 4,
    decode: str = "auto",
    bf16: bool = True,
    channels_last: bool = False,
    compile: bool = False,
    warmup: int = 3,
    frame_cache_mb: float = 0.0,
    params: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict:
    """Measure steps/s of ``method`` + ``backbone`` from synthetic device tensors and from ``cache``.

    Args:
        method, backbone: registry names.
        cache: an extracted cache; ``None`` measures (a) only.
        steps: timed optimiser steps per measurement (after ``warmup`` untimed ones).
        batch_size: global batch (one process here).
        device: auto | cpu | cuda.
        clip_len, crop, load_size: clip frames, crop side, load size (default: the
            method's recipe: 16 frames, 112, 128 x 171).
        workers, decode: DataLoader workers and JPEG decoding (cpu | gpu | auto) for (b).
        bf16, channels_last, compile: as ``vssl pretrain``.
        frame_cache_mb: (b)'s store of decoded frames (``run.frame_cache_mb``); the timed steps
            include filling it, so a short measurement understates what a long run gains.
        params: overrides of the method's ``Config`` (e.g. ``{"queue_size": 4096}``).
        overrides: any other dotted config keys (``"data.stride": 4``).

    Returns:
        ``synthetic_steps_per_s`` / ``synthetic_clips_per_s`` (a), ``cache_steps_per_s`` /
        ``cache_clips_per_s`` (b), ``ratio`` (b / a), ``data_wait`` (fraction of (b)'s time
        spent waiting for batches), plus the settings used. (b) keys are None without a cache.
        Masked modelling (VideoMAE, MGM) adds ``tokens_per_clip``, ``visible_tokens_per_clip`` (what
        the encoder sees) and ``synthetic_tokens_per_s`` / ``cache_tokens_per_s``.
    """
    from vssl.data.dataset import ClipDataset, collate
    from vssl.data.sampling import EpochBatchSampler
    from vssl.data.synthetic import synthetic_batch
    from vssl.train.config import resolve_config
    from vssl.train.engine import build_engine, build_method, resolve_decode, resolve_device

    over: dict[str, Any] = {
        "backbone": backbone, "cache": str(cache) if cache is not None else "", "optim.batch_size": batch_size,
        "optim.steps": warmup + steps, "data.workers": workers, "data.decode": decode, "data.clip_len": clip_len,
        "data.load_size": list(load_size) if load_size else None, "run.device": device, "run.bf16": bf16,
        "run.channels_last": channels_last, "run.compile": compile, f"{method}.crop": crop,
        **{f"{method}.{k}": v for k, v in (params or {}).items()}, **(overrides or {}),
    }
    cfg = resolve_config(method, overrides=over)
    dev = resolve_device(cfg.run.device)
    dist = D.DistInfo()
    total = warmup + steps
    out: dict[str, Any] = {
        "method": method, "backbone": backbone, "device": str(dev), "batch_size": batch_size, "steps": steps,
        "clip_len": cfg.data.clip_len, "crop": getattr(cfg.params, "crop", None), "load_size": list(cfg.data.load_size),
        "bf16": cfg.run.bf16 and dev.type == "cuda", "channels_last": channels_last, "compile": compile,
        "workers": workers, "frame_cache_mb": frame_cache_mb,
    }

    # (a) synthetic batch, already on the device
    m = build_method(cfg)
    eng = build_engine(cfg, m, dev, dist, total_steps=total, warmup_steps=0)
    batch = synthetic_batch(m.requires, batch_size, cfg.data.clip_len, cfg.data.load_size, device=dev)
    secs, _ = _time_steps(eng, lambda: batch, warmup, steps)
    out["synthetic_steps_per_s"] = steps / secs
    out["synthetic_clips_per_s"] = steps * batch_size / secs
    counts = getattr(m, "token_counts", None)  # masked modelling: tokens per clip, and those encoded
    if counts is not None:
        out["tokens_per_clip"], out["visible_tokens_per_clip"] = counts(cfg.data.clip_len)
        out["synthetic_tokens_per_s"] = out["synthetic_clips_per_s"] * out["tokens_per_clip"]
    del eng, m, batch
    if dev.type == "cuda":
        torch.cuda.empty_cache()

    # (b) the same step fed from the cache
    out.update(cache_steps_per_s=None, cache_clips_per_s=None, ratio=None, data_wait=None, decode=None)
    if cache is None:
        return out
    dec = resolve_decode(cfg.data.decode, dev)
    m = build_method(cfg)
    ds = ClipDataset(cfg.cache, cfg.data.split, cfg.data.subset, cfg.data.clip_len, cfg.data.stride,
                     cfg.data.load_size, m.requires, decode=dec, seed=cfg.seed, fame_masks=cfg.data.fame_masks,
                     static_frames=cfg.data.static_frames, frame_cache_mb=frame_cache_mb)
    sampler = EpochBatchSampler(len(ds), batch_size, seed=cfg.seed)
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate, pin_memory=dev.type == "cuda",
        persistent_workers=workers > 0, prefetch_factor=cfg.data.prefetch if workers > 0 else None,
    )

    def batches():
        for epoch in itertools.count():
            sampler.set_epoch(epoch)
            yield from loader

    it = batches()
    eng = build_engine(cfg, m, dev, dist, total_steps=total, warmup_steps=0, decode=dec)
    secs, wait = _time_steps(eng, lambda: next(it), warmup, steps)
    out["cache_steps_per_s"] = steps / secs
    out["cache_clips_per_s"] = steps * batch_size / secs
    if "tokens_per_clip" in out:
        out["cache_tokens_per_s"] = out["cache_clips_per_s"] * out["tokens_per_clip"]
    out["ratio"] = out["cache_steps_per_s"] / out["synthetic_steps_per_s"]
    out["data_wait"] = wait / secs
    out["decode"] = dec
    out["videos"] = len(ds)
    return out
