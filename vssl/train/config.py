"""Pretraining configuration: dataclasses, resolution order, YAML round trip.

Resolution, later wins:

1. dataclass defaults (:class:`DataConfig`, :class:`OptimConfig`,
   :class:`RunConfig`, and the method's own ``Config``);
2. the method's paper recipe (its ``RECIPE`` dict, e.g. CMD's stride 4 and
   Nesterov SGD, RECIPES.md);
3. ``--preset NAME`` (:mod:`vssl.train.presets`, e.g. ``demo``: a short CPU run);
4. ``--config FILE.yaml``;
5. command-line flags (and ``--set section.key=value``).

The YAML file (and the ``config.yaml`` a run writes) looks like::

    method: moco
    backbone: r3d_18
    cache: /data/ucf101_cache
    seed: 0
    data:  {split: "1", subset: train, clip_len: 16, stride: 1, load_size: [128, 171], ...}
    optim: {epochs: 200, batch_size: 64, lr: 0.003, weight_decay: 0.0001, ...}
    run:   {device: auto, bf16: true, save_every: 1000, ...}
    moco:  {temperature: 0.07, queue_size: 2048, ...}   # the method's Config, under its name

An unknown key anywhere is a one-line error naming the key and the file; so is a value that does
not fit its field's annotation (:func:`vssl.utils.typed.from_dict` reads every section: ints,
floats, ``true`` / ``false``, lists for tuples, ``null`` for optional fields, and the values a
``Literal`` field lists, named in the message).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from vssl.errors import InputError
from vssl.utils import typed

Decode = Literal["auto", "cpu", "gpu"]  # auto = cpu until measured on a GPU
LrScaling = Literal["none", "linear"]
Schedule = Literal["cosine", "step"]  # vssl.train.optim.lr_factor
Monitor = Literal["none", "knn"]
DEVICE_CHOICES = ("auto", "cpu", "cuda")  # or cuda:N, so a string and not a Literal


@dataclass(frozen=True)
class DataConfig:
    """What the data loader loads (see :class:`vssl.data.dataset.ClipDataset`)."""

    split: str = "1"
    subset: Literal["train", "test", "all"] = "train"  # all: unlabelled data
    clip_len: int = 16  # RECIPES: 16 frames
    stride: int = 1
    load_size: tuple[int, int] = (128, 171)  # (H, W) every frame is resized to; crops come from it
    decode: Decode = "auto"  # auto = cpu until measured on a GPU
    workers: int = 4  # DataLoader worker processes per GPU / process
    prefetch: int = 2  # batches prefetched per worker
    fame_masks: Literal["online", "cache"] = "online"  # FAME: cache = vssl precompute fame
    static_frames: Literal["online", "cache"] = "online"  # BE: cache = vssl precompute be
    input: Literal["rgb", "diff"] = "rgb"  # what the backbone sees; diff: frame differences (vssl.ops.frames), not a paper default


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser (SGD with momentum by default, RECIPES.md shared setup; LARS or AdamW when a
    method's recipe names them, :mod:`vssl.train.optim`), warm-up then cosine decay, or step decay
    (``schedule: step``: ``gamma`` at each of ``milestones``, fractions of the run; Pace's StepLR)."""

    epochs: int = 200
    steps: int | None = None  # total optimiser steps; overrides epochs when given
    batch_size: int = 64  # global: all processes and accumulation steps of one optimiser step
    lr: float = 0.003  # at base_batch when lr_scaling = linear
    lr_scaling: LrScaling = "none"  # linear: lr * batch_size / base_batch
    base_batch: int = 256
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    warmup_epochs: float = 0.0
    warmup_steps: int | None = None  # overrides warmup_epochs when given
    min_lr: float = 0.0  # the cosine ends here
    min_lr_ratio: float = 0.0  # or here, as a fraction of the peak lr (Barlow Twins, VICReg: 0.001)
    schedule: Schedule = "cosine"  # vssl.train.optim.lr_factor
    milestones: tuple[float, ...] = (1 / 3, 2 / 3)  # step: where the lr drops, as fractions of the total steps
    gamma: float = 0.1  # step: the lr is multiplied by this at each milestone
    optimizer: str = "sgd"  # sgd | lars | adamw (vssl.train.optim.OPTIMIZERS)
    lars_eta: float = 0.001  # LARS trust coefficient
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW
    exclude_norm_bias: bool = False  # no weight decay (nor LARS adaptation) for biases and norm parameters
    norm_bias_lr_scale: float = 1.0  # lr multiplier of biases and norm parameters (Barlow Twins: 0.024)
    accum: int = 1  # gradient-accumulation steps
    grad_clip: float | None = None  # max gradient norm, None = off


@dataclass(frozen=True)
class RunConfig:
    """How to run; changing these does not change what is learnt (resume allows it)."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N (DEVICE_CHOICES)
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = False  # channels_last_3d (fast with bf16 on recent GPUs)
    compile: bool = False  # torch.compile the backbone
    frame_cache_mb: float = 0.0  # decoded frames kept in RAM per data process (vssl.data.frames.FrameCache); 0: none
    save_every: int = 1000  # optimiser steps between checkpoints (and one at the end)
    log_every: int = 10  # steps between log lines / metrics.jsonl records
    tensorboard: bool = True
    wandb: bool = False  # also log to Weights & Biases (pip install wandb; WANDB_MODE=offline works without network)
    wandb_project: str = "vssl"
    skip_bad_videos: bool = False  # a video that cannot be read is logged once and replaced by the next one
    monitor: Monitor = "none"  # knn: kNN top-1 of the backbone on a fixed labelled subset while training
    monitor_every: int = 0  # steps between monitor values (and at step 0 and the last step); 0: 20 over the run
    monitor_videos: int = 64  # train (gallery) and test (query) videos each, a fixed seeded class-balanced subset
    monitor_clips: int = 1  # evenly spaced clips per monitor video (vssl eval knn --clips)


@dataclass(frozen=True)
class PretrainConfig:
    """Everything a pretraining run depends on; ``params`` is the method's ``Config``."""

    method: str
    params: Any
    backbone: str = "r3d_18"
    cache: str = ""
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


SECTIONS = {"data": DataConfig, "optim": OptimConfig, "run": RunConfig}
TOP_KEYS = ("method", "backbone", "cache", "seed")

# Keys that may change between a run and its resumption (they do not change what is learnt).
NON_ESSENTIAL = ("cache", "data.workers", "data.prefetch", "data.decode", "run.")


# --------------------------------------------------------------------------- conversion


def to_dict(cfg: PretrainConfig) -> dict:
    """Nested plain dict (YAML-safe: tuples become lists)."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    out = {k: getattr(cfg, k) for k in TOP_KEYS}
    for name in SECTIONS:
        out[name] = plain(getattr(cfg, name))
    out[cfg.method] = plain(cfg.params)
    return out


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _top(key: str, value: Any, where: str = "") -> Any:
    """A top-level value (``backbone``, ``cache``, ``seed``) in the type of its :class:`PretrainConfig` field."""
    return typed.coerce(typed.field_types(PretrainConfig)[key], value, f"'{key}'", where)


def load_yaml(path: Path) -> dict:
    """A YAML mapping from ``path``; one-line InputError if it is missing or not a mapping."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        d = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path} is not valid YAML{at}") from None
    if not isinstance(d, dict):
        raise InputError(f"{path} must hold a mapping of settings, not {type(d).__name__}")
    return d


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["optim.lr=0.1", "moco.queue_size=4096"]`` -> dotted keys with YAML-parsed values."""
    import yaml

    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise InputError(f"--set takes KEY=VALUE (e.g. optim.lr=0.1), not '{it}'")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            raise InputError(f"--set {it}: value is not valid YAML") from None
    return out


def _nest(dotted: dict[str, Any]) -> dict:
    out: dict = {}
    for k, v in dotted.items():
        parts = k.split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise InputError(f"'{k}': '{p}' is a value, not a section")
        d[parts[-1]] = v
    return out


def _merge_layer(cfg: dict, layer: dict, where: str, method: str, method_cls) -> None:
    """Check the keys and values of one layer (YAML file or CLI) and merge it into ``cfg`` (plain dicts);
    a bad key or value is an InputError naming it and ``where``."""
    for k, v in layer.items():
        if k in TOP_KEYS:
            cfg[k] = v if k == "method" else _top(k, v, where)
        elif k in SECTIONS or k == method:
            if not isinstance(v, dict):
                raise InputError(f"'{k}' in {where} must be a mapping of settings")
            klass = SECTIONS[k] if k in SECTIONS else method_cls.Config
            cfg.setdefault(k, {}).update(typed.coerce_dict(klass, v, section=k, where=where))
        else:
            valid = ", ".join([*TOP_KEYS, *SECTIONS, method])
            raise InputError(f"unknown key '{k}' in {where} (valid: {valid})")


def resolve_config(
    method: str | None = None,
    *,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    preset: str | None = None,
) -> PretrainConfig:
    """Build the resolved config: defaults < method recipe < preset < YAML < ``overrides``.

    Args:
        method: method name (CLI ``--method``); may come from the YAML file instead.
        config_file: a YAML file as in the module docstring.
        overrides: dotted keys (``"optim.lr"``, ``"backbone"``, ``"moco.temperature"``);
            ``None`` values are skipped (flags not given).
        preset: a name of :data:`vssl.train.presets.PRESETS`, or None.

    Raises:
        InputError: unknown method or key (naming the key and the file), bad value.
    """
    from vssl.methods import get_method

    file_layer = load_yaml(config_file) if config_file else {}
    over = {k: v for k, v in (overrides or {}).items() if v is not None}
    name = over.pop("method", None) or method or file_layer.get("method")
    if not name:
        raise InputError("no method given: pass --method or set 'method' in the config file")
    cls = get_method(str(name))
    cfg: dict = {"method": name}
    for sec, overr in getattr(cls, "RECIPE", {}).items():
        cfg.setdefault(sec, {}).update(overr)
    if preset:
        from vssl.train.presets import pretrain_overrides

        _merge_layer(cfg, _nest(pretrain_overrides(preset, str(name))), f"preset '{preset}'", name, cls)
    if config_file:
        if file_layer.get("method", name) != name:
            raise InputError(
                f"{config_file} is a config for method '{file_layer['method']}', not '{name}' "
                "(drop --method or use a config of that method)"
            )
        _merge_layer(cfg, file_layer, str(config_file), name, cls)
    _merge_layer(cfg, _nest(over), "the command-line options", name, cls)
    cfg["method"] = name

    params = typed.from_dict(cls.Config, cfg.get(name, {}), section=name)
    kw = {k: _top(k, cfg[k]) for k in ("backbone", "cache", "seed") if k in cfg}
    if "backbone" not in cfg and getattr(cls, "BACKBONE", None):
        kw["backbone"] = cls.BACKBONE  # a method tied to one kind of network (ViTs for masked modelling)
    sections = {sec: typed.from_dict(klass, cfg.get(sec, {}), section=sec) for sec, klass in SECTIONS.items()}
    out = PretrainConfig(method=name, params=params, **kw, **sections)
    validate(out)
    return out


def validate(cfg: PretrainConfig) -> None:
    """Range and cross-field checks and the choices of the registries (backbones, optimisers);
    one-line InputError. The ``Literal`` fields were checked when the dicts were read (:mod:`vssl.utils.typed`)."""
    from vssl.models import BACKBONES
    from vssl.train.optim import OPTIMIZERS

    OPTIMIZER_NAMES = tuple(OPTIMIZERS)
    d, o, r = cfg.data, cfg.optim, cfg.run
    if cfg.backbone not in BACKBONES or cfg.backbone == "resnet10_2d":
        valid = ", ".join(sorted(b for b in BACKBONES if b != "resnet10_2d"))
        raise InputError(f"unknown backbone {cfg.backbone!r}; choose one of: {valid}")
    checks = [
        (d.clip_len >= 1 and d.stride >= 1, "data.clip_len and data.stride must be >= 1"),
        (d.input == "rgb" or d.clip_len >= 2, "data.input diff needs data.clip_len >= 2"),
        (d.input == "rgb" or not cfg.backbone.startswith("vit"),
         f"data.input diff is for convolutional backbones ({cfg.backbone} cuts tubelets of the clip's frames)"),
        (d.input == "rgb" or getattr(cfg.params, "input", "rgb") == "rgb",
         "set data.input or supervised.input to diff, not both (the frames would be differenced twice)"),
        (min(d.load_size) >= 8, "data.load_size must be at least 8 x 8"),
        (d.workers >= 0 and d.prefetch >= 1, "data.workers must be >= 0 and data.prefetch >= 1"),
        (o.epochs >= 1, "optim.epochs must be >= 1"),
        (o.steps is None or o.steps >= 1, "optim.steps must be >= 1"),
        (o.batch_size >= 1 and o.accum >= 1, "optim.batch_size and optim.accum must be >= 1"),
        (o.lr > 0 and o.min_lr >= 0, "optim.lr must be > 0 and optim.min_lr >= 0"),
        (0 <= o.min_lr_ratio < 1, "optim.min_lr_ratio must be in [0, 1)"),
        (o.min_lr == 0 or o.min_lr_ratio == 0, "set optim.min_lr or optim.min_lr_ratio, not both"),
        (o.optimizer in OPTIMIZER_NAMES, f"optim.optimizer must be one of {', '.join(OPTIMIZER_NAMES)}"),
        (o.lars_eta > 0 and o.norm_bias_lr_scale > 0, "optim.lars_eta and optim.norm_bias_lr_scale must be > 0"),
        (all(0 <= b < 1 for b in o.betas), "optim.betas must be two numbers in [0, 1)"),
        (o.base_batch >= 1, "optim.base_batch must be >= 1"),
        (o.weight_decay >= 0 and 0 <= o.momentum < 1, "optim.weight_decay must be >= 0, optim.momentum in [0, 1)"),
        (all(0 < m < 1 for m in o.milestones) and list(o.milestones) == sorted(set(o.milestones)),
         f"optim.milestones must be increasing fractions of the run in (0, 1), got {list(o.milestones)}"),
        (0 < o.gamma <= 1, f"optim.gamma must be in (0, 1], got {o.gamma}"),
        (o.schedule == "cosine" or (o.min_lr == 0 and o.min_lr_ratio == 0),
         "optim.min_lr and optim.min_lr_ratio are the end of the cosine: set them to 0 with optim.schedule step"),
        (o.warmup_epochs >= 0 and (o.warmup_steps is None or o.warmup_steps >= 0), "warm-up must be >= 0"),
        (o.grad_clip is None or o.grad_clip > 0, "optim.grad_clip must be > 0"),
        (r.device in DEVICE_CHOICES or r.device.startswith("cuda:"), f"run.device must be one of {', '.join(DEVICE_CHOICES)}"),
        (r.save_every >= 1 and r.log_every >= 1, "run.save_every and run.log_every must be >= 1"),
        (r.monitor_every >= 0, "--monitor-every must be >= 0 (0: 20 values over the run)"),
        (r.monitor_videos >= 1 and r.monitor_clips >= 1, "--monitor-videos and run.monitor_clips must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise InputError(msg)
    crop = getattr(cfg.params, "crop", None)
    if crop is not None and crop > min(d.load_size):
        raise InputError(f"{cfg.method}.crop {crop} is larger than data.load_size {list(d.load_size)}")


def config_from_dict(d: dict) -> PretrainConfig:
    """Rebuild a config from :func:`to_dict` output (e.g. a run's ``config.yaml``)."""
    name = d.get("method")
    over = {}
    for k, v in d.items():
        if k == "method":
            continue
        if isinstance(v, dict):
            for kk, vv in v.items():
                over[f"{k}.{kk}"] = vv
        else:
            over[k] = v
    # None values are meaningful here (e.g. optim.steps: null): apply them directly.
    cfg = resolve_config(name, overrides={k: v for k, v in over.items() if v is not None})
    nulls = {k: None for k, v in over.items() if v is None}
    for k in nulls:
        sec, key = k.split(".", 1)
        if sec in SECTIONS:
            cfg = replace(cfg, **{sec: replace(getattr(cfg, sec), **{key: None})})
    return cfg


def differences(old: dict, new: dict) -> list[str]:
    """Essential settings that differ between two :func:`to_dict` configs, as 'key: old -> new'.

    A key of a section that ``old`` lacks (a config written before the key existed) counts
    as its default, so such a run still resumes when ``new`` keeps the default.
    """
    a, b = flatten(old), flatten(new)
    defaults = {f"{sec}.{f.name}": getattr(klass(), f.name) for sec, klass in SECTIONS.items() for f in fields(klass)}
    for k, v in defaults.items():
        if k not in a and k in b:
            a[k] = list(v) if isinstance(v, tuple) else v
    out = []
    for k in sorted(set(a) | set(b)):
        if any(k == p or (p.endswith(".") and k.startswith(p)) for p in NON_ESSENTIAL):
            continue
        va, vb = a.get(k, "<unset>"), b.get(k, "<unset>")
        if isinstance(va, list):
            va = list(va)
        if va != vb:
            out.append(f"{k}: {va!r} -> {vb!r}")
    return out
