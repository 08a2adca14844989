"""Training commands: pretrain, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vssl.cli.common import console, error_boundary
from vssl.methods import METHODS  # a lazy registry: its names need no torch (vssl --help)
from vssl.models.specs import backbone_help
from vssl.train.config import DEVICE_CHOICES, DataConfig, RunConfig  # no torch: plain dataclasses
from vssl.utils.typed import choices


def _choices_help(cls: type, name: str, notes: dict[str, str] | None = None, sep: str = " | ") -> str:
    """``a | b (note) | c``: the values the ``Literal`` field ``cls.name`` allows, in its order, with
    a note for some of them (a note for a value the field does not allow is an error at import)."""
    values = choices(cls, name)
    notes = notes or {}
    unknown = set(notes) - set(values)
    assert values and not unknown, f"{cls.__name__}.{name}: no Literal choices, or notes for unknown values {unknown}"
    return sep.join(f"{v} ({notes[v]})" if v in notes else str(v) for v in values)


# Help of the options whose values a config field lists (a Literal, or DEVICE_CHOICES): built from
# the field, so the help names exactly what the config accepts.
_DEVICE_HELP = " | ".join(DEVICE_CHOICES) + " (or cuda:N)."
_DECODE_HELP = "JPEG decoding: " + _choices_help(DataConfig, "decode", {"cpu": "OpenCV in workers", "gpu": "nvJPEG"}) + "."
_FAME_MASKS_HELP = "FAME masks: " + _choices_help(DataConfig, "fame_masks", {"cache": "needs `vssl precompute fame`"}) + "."
_STATIC_FRAMES_HELP = ("BE static frames: "
                       + _choices_help(DataConfig, "static_frames", {"cache": "needs `vssl precompute be`"}) + ".")
_SUBSET_HELP = _choices_help(DataConfig, "subset", {"all": "unlabelled caches"}) + "."
_MONITOR_HELP = ("Online evaluation while training: "
                 + _choices_help(RunConfig, "monitor", {
                     "none": "default",
                     "knn": "kNN top-1 of the backbone on a fixed labelled subset of the cache's train/test videos, "
                            "as vssl eval knn computes it; needs a labelled cache"})
                 + ". Logged to metrics.jsonl, TensorBoard / W&B; cost in run.json.")


def pretrain(
    method: Annotated[Optional[str], typer.Option("--method", "-m", help=f"Method: {', '.join(METHODS)} (or 'method' in --config).")] = None,
    cache: Annotated[Optional[Path], typer.Option(help="Extracted cache (vssl extract).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created; rerun the same command to resume).")] = ...,
    backbone: Annotated[Optional[str], typer.Option(help=f"Backbone (feature size, clip it is meant for: frames x crop): {backbone_help()}. Default r3d_18.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config; flags override it, it overrides the method's paper recipe.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Named short-run settings over the paper recipe: demo (tiny backbone, 8-frame clips, a few hundred steps: minutes on a CPU). See vssl/train/presets.py.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (ignored when --steps is given).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Total optimiser steps (overrides --epochs).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", help="Global batch per optimiser step (all GPUs and accumulation steps).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (at optim.base_batch when optim.lr_scaling is linear).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", help="DataLoader workers per process.")] = None,
    device: Annotated[Optional[str], typer.Option(help=_DEVICE_HELP)] = None,
    bf16: Annotated[Optional[bool], typer.Option("--bf16/--no-bf16", help="bf16 autocast on CUDA.")] = None,
    channels_last: Annotated[Optional[bool], typer.Option("--channels-last/--no-channels-last", help="channels_last_3d memory layout.")] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the backbone.")] = None,
    accum: Annotated[Optional[int], typer.Option(help="Gradient-accumulation steps.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed (weights, data order, augmentation).")] = None,
    save_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N optimiser steps (and at the end).")] = None,
    log_every: Annotated[Optional[int], typer.Option(help="Log every N optimiser steps.")] = None,
    decode: Annotated[Optional[str], typer.Option(help=_DECODE_HELP)] = None,
    fame_masks: Annotated[Optional[str], typer.Option(help=_FAME_MASKS_HELP)] = None,
    static_frames: Annotated[Optional[str], typer.Option(help=_STATIC_FRAMES_HELP)] = None,
    split: Annotated[Optional[str], typer.Option(help="Split number of the cache.")] = None,
    subset: Annotated[Optional[str], typer.Option(help=_SUBSET_HELP)] = None,
    clip_len: Annotated[Optional[int], typer.Option(help="Frames per clip.")] = None,
    stride: Annotated[Optional[int], typer.Option(help="Temporal stride between clip frames.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Any setting as section.key=value, e.g. moco.queue_size=4096 (repeatable).")] = None,
    logger: Annotated[Optional[str], typer.Option(help="Where scalars go besides metrics.jsonl: tensorboard (default), wandb, tensorboard,wandb or none. W&B: pip install wandb; WANDB_MODE=offline needs no network; --set run.wandb_project=NAME.")] = None,
    skip_bad_videos: Annotated[Optional[bool], typer.Option("--skip-bad-videos/--no-skip-bad-videos", help="A video that cannot be read (missing shard, damaged bytes) is logged once (RUN_DIR/skipped_videos.jsonl), left out and replaced by the next one; the count goes to run.json and the metrics. Default: stop with one line naming it.")] = None,
    monitor: Annotated[Optional[str], typer.Option(help=_MONITOR_HELP)] = None,
    monitor_every: Annotated[Optional[int], typer.Option(help="Steps between monitor values (also at step 0 and the last step); default 0: 20 values over the run.")] = None,
    monitor_videos: Annotated[Optional[int], typer.Option(help="Train (gallery) and test (query) videos of the monitor, each; a fixed class-balanced subset drawn from --seed (default 64).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Insist on resuming (error if RUN_DIR has no checkpoint).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
):
    """Pretrain a backbone with a self-supervised method on a cache.

    Settings: the method's paper recipe < --preset < --config FILE.yaml < flags. The run directory gets
    config.yaml (fully resolved), run.json, metrics.jsonl, tb/ and checkpoints/last.pt.
    Multi-GPU: torchrun --nproc-per-node N $(which vssl) pretrain ...
    """
    from vssl.train.config import parse_set, resolve_config
    from vssl.train.loop import pretrain as run_pretrain

    flags = {
        "cache": str(cache) if cache is not None else None, "backbone": backbone, "seed": seed,
        "optim.epochs": epochs, "optim.steps": steps, "optim.batch_size": batch_size, "optim.lr": lr,
        "optim.accum": accum, "data.workers": workers, "data.decode": decode, "data.fame_masks": fame_masks,
        "data.static_frames": static_frames, "data.split": split, "data.subset": subset, "data.clip_len": clip_len,
        "data.stride": stride, "run.device": device, "run.bf16": bf16, "run.channels_last": channels_last,
        "run.compile": compile, "run.save_every": save_every, "run.log_every": log_every,
        "run.skip_bad_videos": skip_bad_videos, "run.monitor": monitor, "run.monitor_every": monitor_every,
        "run.monitor_videos": monitor_videos,
    }
    if logger is not None:
        flags.update(_loggers(logger))
    overrides = {**parse_set(set_), **{k: v for k, v in flags.items() if v is not None}}
    cfg = resolve_config(method, config_file=config, overrides=overrides, preset=preset)
    s = run_pretrain(cfg, out, resume=resume, quiet=quiet)
    _summary(cfg, s)


LOGGERS = ("tensorboard", "wandb", "none")


def _loggers(text: str) -> dict:
    """``--logger tensorboard,wandb`` -> the run.tensorboard / run.wandb overrides."""
    from vssl.errors import InputError

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in LOGGERS]
    if bad or not names or ("none" in names and len(names) > 1):
        raise InputError(f"--logger must be tensorboard, wandb, both (tensorboard,wandb) or none, not '{text}'")
    return {"run.tensorboard": "tensorboard" in names, "run.wandb": "wandb" in names}


def _summary(cfg, s: dict) -> None:
    import os

    if int(os.environ.get("RANK", "0") or 0) != 0:
        return
    from rich.table import Table

    t = Table(title=f"vssl pretrain {cfg.method} ({cfg.backbone})", show_header=False)
    t.add_row("steps", f"{s['steps']} / {s['total_steps']} ({s['steps_per_epoch']} per epoch, {s['videos']} videos)")
    if s.get("resumed_from") is not None:
        t.add_row("resumed from step", str(s["resumed_from"]))
    if s.get("loss") is not None:
        t.add_row("last loss", f"{s['loss']:.4f}")
        t.add_row("clips/s (last window)", f"{s['clips_per_s']:.1f}")
    mon = s.get("monitor")
    if mon and mon.get("calls"):
        top1 = "-" if mon.get("knn_top1") is None else f"{100 * mon['knn_top1']:.1f} %"
        t.add_row("kNN monitor (last)", f"top-1 {top1} ({mon['gallery_videos']} gallery / {mon['query_videos']} query "
                  f"videos; {mon['calls']} calls, {mon['seconds_per_call']:.2f} s each, "
                  f"{100 * (mon['fraction'] or 0):.1f} % of the run)")
    t.add_row("time", f"{s['seconds']:.1f} s")
    t.add_row("run directory", s["run_dir"])
    t.add_row("checkpoint", s["checkpoint"] or "-")
    console.print(t)


def export(
    run_dir: Annotated[Path, typer.Argument(help="A pretrain run directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.pt, .safetensors or .onnx).")] = ...,
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="pt | safetensors | onnx (default: from --out's suffix, else pt).")] = None,
    clip: Annotated[Optional[str], typer.Option(help="ONNX: frames x crop of the input, e.g. 16x112 (default: the run's clip; the batch is dynamic).")] = None,
):
    """Write the trained backbone: pt (plain state dict, torch.load(..., weights_only=True); loads into the
    torchvision model with strict=False, only the classifier missing), safetensors (the same tensors, the
    backbone name in its metadata) or onnx (dynamic batch). safetensors and onnx need vssl's export extra.
    Read any of them back with vssl.load_backbone(PATH)."""
    from vssl.export import export_run, parse_clip

    r = export_run(run_dir, out, format, clip=parse_clip(clip) if clip is not None else None)
    what = f"{r['tensors']} tensors" if "tensors" in r else f"input {r['input']}, dynamic batch"
    console.print(f"[green]exported[/green] {r['backbone']} backbone ({r['method']}, step {r['step']}, {what}) "
                  f"as {r['format']} to {r['out']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("pretrain")(error_boundary(pretrain))
    app.command("export")(error_boundary(export))
