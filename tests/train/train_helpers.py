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
METHOD_TINY = {
    "moco": {"crop": 24, "queue_size": 16},
    "simclr": {"crop": 24},
    "dsm": {"crop": 24, "queue_size": 16},
    "be": {"crop": 24, "queue_size": 16},
    "fame": {"crop": 24, "queue_size": 16},
    "supervised": {"crop": 24},
    "cmd": {"crop": 24, "mv_encoder": "tiny", "mv_len": 4, "mv_size": 8, "predictor_dim": 32, "mv_negatives": 2},
    "simsiam": {"crop": 24, "proj_dim": 32, "pred_dim": 8},
    "byol": {"crop": 24, "proj_dim": 16, "hidden_dim": 32, "pred_hidden_dim": 32},
    "barlow": {"crop": 24, "proj_dim": 32, "hidden_dim": 32},
    "vicreg": {"crop": 24, "proj_dim": 32, "hidden_dim": 32},
    "directclr": {"crop": 24, "dim": 16},
    "videomae": {"crop": 32},
    "mgm": {"crop": 32},
    "vcop": {"crop": 24, "gap": 1, "hidden_dim": 16},
    "pace": {"crop": 24, "proj_dim": 16},
    "rotnet3d": {"crop": 24},
    "cubic_puzzle": {"crop": 24, "jitter": 2, "hidden_dim": 16},
    "ascnet": {"crop": 24, "proj_dim": 16, "hidden_dim": 32, "pred_hidden_dim": 16, "bank_size": 16},
    "corp": {"crop": 24, "proj_dim": 16, "heads": 2, "head_dim": 4, "mlp_hidden": 8},
    "tec": {"crop": 24, "trans_dim": 16, "hidden_dim": 32},
    "lsfd": {"crop": 24, "dim": 8},
    "mcn": {"crop": 24, "proj_dim": 16, "bin_hidden": 8, "meta_params": "heads"},
}
METHOD_BACKBONE = {"videomae": "vit_tiny", "mgm": "vit_tiny"}  # masked modelling needs a ViT


def tiny_overrides(method: str, cache: Path | str, **extra) -> dict:
    """Dotted overrides for :func:`vssl.train.config.resolve_config` of a tiny CPU run."""
    over = {"cache": str(cache), **TINY, "backbone": METHOD_BACKBONE.get(method, TINY["backbone"])}
    over.update({f"{method}.{k}": v for k, v in METHOD_TINY[method].items()})
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
