"""Helpers of the training tests: tiny run settings and a tiny labelled cache."""

from __future__ import annotations

from pathlib import Path

# Tiny settings: 4-frame clips at stride 2 from 32 x 40 frames, crops of 24, tiny backbone, no workers.
TINY = {
    "backbone": "tiny",
    "data.clip_len": 4,
    "data.stride": 2,
    "data.load_size": [32, 40],
    "data.workers": 0,
    "optim.batch_size": 4,
    "optim.steps": 2,
    "run.log_every": 1,
    "run.save_every": 100,
    "run.tensorboard": False,
    "run.device": "cpu",
}


def tiny_overrides(method: str, cache: Path | str, **extra) -> dict:
    """Dotted overrides for :func:`vssl.train.config.resolve_config` of a tiny CPU run."""
    from vssl.methods import tiny_params
    from vssl.train.presets import pretrain_overrides

    over = {"cache": str(cache), **TINY, "backbone": pretrain_overrides("demo", method).get("backbone", TINY["backbone"])}
    over.update({f"{method}.{k}": v for k, v in tiny_params(method).items()})  # the method's Config.tiny()
    over.update(extra)
    return over


def tiny_config(method: str, cache: Path | str, **extra):
    from vssl.train.config import resolve_config

    return resolve_config(method, overrides=tiny_overrides(method, cache, **extra))


def build_tiny_cache(base: Path) -> Path:
    """Synth (3 classes x 4 videos, 64 x 48, 32 frames) extracted at short side 32: 9 train videos."""
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    cache = base / "cache"
    if (cache / "manifest.json").exists():
        return cache
    make_synth(base / "src", classes=3, videos_per_class=4, size=(64, 48), frames=32, progress=False)
    extract(base / "src", cache, ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    return cache
