"""`vssl bench eval`: feature extraction from a cache against the model alone, same device, same run.

(a) the reference: the backbone's inference on synthetic clips already on the
device (``(B, 3, T, S, S)``, bf16 autocast on CUDA, no grad), clips/s;
(b) the evaluation feature pass (:func:`vssl.eval.features.compute_features`):
JPEG decode in DataLoader workers, resize, crop, transfer, normalise and the
same inference, clips/s; (c) the data loader alone (no model), clips/s.
The ratio (b)/(a) says how much of the model's speed the pipeline delivers
(1.0 = the model is the bottleneck).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from vssl.bench.data import synth_cache


@torch.inference_mode()
def model_alone(model: torch.nn.Module, device: torch.device, *, batch_size: int, clip_len: int, crop: int,
                iters: int, warmup: int, amp: bool = True) -> float:
    """Clips/s of ``model`` on synthetic input already on ``device`` (best of the timed iterations' total)."""
    from vssl.eval.features import autocast, prepare_model

    model = prepare_model(model, device)
    x = torch.rand(batch_size, 3, clip_len, crop, crop, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        with autocast(device, amp):
            model(x)
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        with autocast(device, amp):
            model(x)
    sync()
    return batch_size * iters / (time.perf_counter() - t0)


def loader_alone(cache: Path, ids: list[str], opts, *, batch_size: int, workers: int, device: torch.device) -> float:
    """Clips/s of the evaluation DataLoader (decode + resize + crop), without the model."""
    from vssl.data.clips import EvalClips, make_loader

    ds = EvalClips(cache, ids, opts)
    loader = make_loader(ds, batch_size, workers, device)
    n, t0 = 0, time.perf_counter()
    for b in loader:
        n += b["clip"].shape[0]
    return n / (time.perf_counter() - t0)


def bench_eval(
    backbone: str = "r3d_18",
    cache: str | Path | None = None,
    *,
    split: str | None = None,
    max_videos: int = 64,
    clips: int = 10,
    clip_len: int = 16,
    resize: int = 128,
    crop: int = 112,
    batch_size: int = 64,
    workers: int | None = None,
    device: str | None = None,
    amp: bool = True,
    iters: int = 5,
    warmup: int = 2,
    synth_videos: int = 16,
    synth_frames: int = 64,
    synth_size: tuple[int, int] = (160, 120),
) -> dict[str, Any]:
    """Measure the evaluation feature pass against the model alone.

    Args:
        backbone: a key of ``vssl.models.BACKBONES`` (random weights).
        cache: an extracted cache; None = a synth cache (``synth_videos`` videos of
            ``synth_frames`` frames at ``synth_size``) made in a temporary directory.
        split: take the videos of this split's train subset (default: all videos).
        max_videos: at most this many videos (clips = videos x ``clips``).
        clips, clip_len, resize, crop: the feature options.
        batch_size, workers, device, amp: the runtime (workers default min(8, cores)).
        iters, warmup: timed and untimed batches of the model-alone reference.

    Returns:
        ``{"backbone", "device", "videos", "clips", "batch_size", "workers",
        "model_clips_per_s", "pipeline_clips_per_s", "loader_clips_per_s",
        "ratio" (pipeline / model), "pipeline_seconds"}``.
    """
    from vssl.eval.features import FeatureOptions, Runtime, compute_features
    from vssl.io.cache import Cache
    from vssl.models import build_backbone

    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    rt = Runtime(batch_size=batch_size, workers=workers, device=device, amp=amp, progress=False)
    dev = rt.torch_device()
    opts = FeatureOptions(clips=clips, clip_len=clip_len, resize=resize, crop=crop, normalize="kinetics")
    opts.validate()
    with tempfile.TemporaryDirectory(prefix="vssl-bench-eval-") as tmp:
        root = Path(cache) if cache is not None else synth_cache(
            Path(tmp), videos=max(4, synth_videos), frames=synth_frames, size=synth_size, classes=2, workers=0,
            min_frames=8)
        c = Cache(root)
        vids = c.split(split, "train") if split is not None else list(c.videos)
        vids = vids[:max_videos]
        ids = [v.id for v in vids]
        model = build_backbone(backbone)
        ref = model_alone(model, dev, batch_size=batch_size, clip_len=clip_len, crop=crop, iters=iters,
                          warmup=warmup, amp=amp)
        loader = loader_alone(root, ids, opts, batch_size=batch_size, workers=workers, device=dev)
        t0 = time.perf_counter()
        fs = compute_features(model, root, ids, [v.label for v in vids], opts, rt)
        secs = time.perf_counter() - t0
        n = len(fs.clip_feats)
    pipe = n / secs if secs > 0 else 0.0
    return {
        "backbone": backbone,
        "device": str(dev),
        "cache": str(cache) if cache is not None else "synth",
        "videos": len(ids),
        "clips": n,
        "batch_size": batch_size,
        "workers": workers,
        "model_clips_per_s": ref,
        "pipeline_clips_per_s": pipe,
        "loader_clips_per_s": loader,
        "ratio": pipe / ref if ref > 0 else 0.0,
        "pipeline_seconds": secs,
    }
