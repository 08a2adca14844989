"""The training engine: a method and backbone built from a config, moved to its device, with
optimiser, schedule and DDP wrapper (:func:`build_engine`), and one optimiser step over
``accum`` micro-batches (:func:`train_step`). :func:`vssl.train.loop.pretrain` drives it;
``vssl bench pretrain`` times it.

Reproducibility: the global torch generator is re-seeded from ``(seed, step, micro-batch)``
before every micro-batch (:func:`step_seed`), so a resumed run computes the same next step as
an uninterrupted one, and one process with ``accum = k`` the same gradients as ``k`` DDP
processes (up to float summation order; batch-norm statistics are per micro-batch).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from vssl import dist as D
from vssl.errors import InputError, TrainingError
from vssl.train.config import PretrainConfig
from vssl.train.optim import lr_factor


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda asked for, but no CUDA device is available (use --device cpu)")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    if name != "cpu":
        raise InputError(f"unknown device '{name}' (auto, cpu or cuda)")
    return torch.device("cpu")


def resolve_decode(decode: str, device: torch.device) -> str:
    """``auto`` -> ``cpu`` (OpenCV in the workers). GPU decoding (nvJPEG) is opt-in with
    ``gpu`` until it has been measured against CPU workers on the target machine."""
    if decode == "gpu" and device.type != "cuda":
        raise InputError("--decode gpu needs a CUDA device (use --decode cpu)")
    return "cpu" if decode == "auto" else decode


def step_seed(seed: int, step: int, micro: int) -> int:
    """Seed of the global torch generator for one micro-batch (independent of rank layout)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(step), int(micro), 0x57E9]).generate_state(1)[0])


def effective_lr(cfg: PretrainConfig) -> float:
    o = cfg.optim
    return o.lr * o.batch_size / o.base_batch if o.lr_scaling == "linear" else o.lr


def to_device(batch: dict, device: torch.device, decode: str, load_size: tuple[int, int]) -> dict:
    """Move a collated batch to ``device`` (non-blocking) and decode GPU-path JPEGs there."""
    out = {}
    for k, v in batch.items():
        # JPEG blobs stay on the host: nvJPEG reads host buffers
        out[k] = v.to(device, non_blocking=True) if isinstance(v, Tensor) and "_jpeg" not in k else v
    if decode == "gpu":
        from vssl.data.gpu_decode import decode_batch_on_device

        out = decode_batch_on_device(out, load_size, device)
    return out


@dataclass
class Engine:
    """The built pieces of a run; :func:`train_step` advances it by one optimiser step."""

    cfg: PretrainConfig
    device: torch.device
    method: nn.Module  # unwrapped
    model: nn.Module  # DDP-wrapped or the method itself
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    dist: D.DistInfo
    decode: str = "cpu"
    amp: bool = False


def build_method(cfg: PretrainConfig) -> nn.Module:
    """Backbone + method with weights from ``cfg.seed`` (the same on every rank)."""
    from vssl.methods import get_method
    from vssl.models import build_backbone
    from vssl.ops.frames import apply_input

    cls = get_method(cfg.method)
    kw = {}
    if getattr(cls, "needs_labels", False) and not getattr(cfg.params, "num_classes", 0) and cfg.cache:
        from vssl.io.cache import Cache

        kw["num_classes"] = Cache(cfg.cache).num_classes  # a supervised control: classes of the cache
        if not kw["num_classes"]:
            raise InputError(f"method '{cfg.method}' needs labels and cache {cfg.cache} has none (extract class "
                             "folders or --splits files); pretrain unlabelled videos with a self-supervised method")
    torch.manual_seed(cfg.seed)
    backbone = apply_input(build_backbone(cfg.backbone), cfg.data.input)
    return cls(backbone, backbone.feat_dim, cfg.params, **kw)


def build_engine(cfg: PretrainConfig, method: nn.Module, device: torch.device, dist: D.DistInfo, *,
                 total_steps: int, warmup_steps: int, decode: str = "cpu") -> Engine:
    """Move ``method`` to ``device``, apply layout / compile / DDP, make optimiser and schedule."""
    from vssl.models import to_channels_last_3d

    method.to(device)
    if cfg.run.channels_last:
        to_channels_last_3d(method)  # weights and every convolution's input (one place for every method)
    if cfg.run.compile:
        method.backbone.compile()  # in place: state-dict names unchanged
    model: nn.Module = method
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(method, device_ids=[device.index] if device.type == "cuda" else None)
    from vssl.train.optim import build_optimizer, param_groups, schedule_lambdas

    o = cfg.optim
    fixed = getattr(method, "fixed_lr", None)  # optional: name -> keeps the peak lr (SimSiam's predictor)
    groups = param_groups(method, weight_decay=o.weight_decay, exclude_norm_bias=o.exclude_norm_bias,
                          norm_bias_lr_scale=o.norm_bias_lr_scale, fixed_lr=fixed)
    opt = build_optimizer(o.optimizer, groups, lr=effective_lr(cfg), momentum=o.momentum, nesterov=o.nesterov,
                          eta=o.lars_eta, betas=o.betas)
    min_ratio = o.min_lr_ratio or o.min_lr / effective_lr(cfg)
    factor = lambda s: lr_factor(s, total_steps, warmup_steps, min_ratio, schedule=o.schedule,  # noqa: E731
                                 milestones=o.milestones, gamma=o.gamma)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule_lambdas(opt, factor))
    if hasattr(method, "set_total_steps"):
        method.set_total_steps(total_steps)  # optional: schedules of the method (BYOL's EMA)
    scaler = torch.amp.GradScaler(device.type, enabled=False)  # bf16 needs no loss scaling
    amp = cfg.run.bf16 and device.type == "cuda"
    return Engine(cfg, device, method, model, opt, sched, scaler, dist, decode=decode, amp=amp)


def train_step(eng: Engine, next_batch: Callable[[], dict], step: int) -> tuple[Tensor, dict[str, Tensor], float]:
    """One optimiser step over ``accum`` micro-batches.

    Returns:
        (mean loss, mean logs) as detached device tensors, and the seconds spent
        waiting for ``next_batch``.

    Raises:
        TrainingError: CUDA out of memory (naming the batch size that failed).
    """
    cfg, accum = eng.cfg, eng.cfg.optim.accum
    wait = 0.0
    loss_sum: Tensor | None = None
    logs_sum: dict[str, Tensor] = {}
    try:
        for a in range(accum):
            t = time.perf_counter()
            batch = next_batch()
            wait += time.perf_counter() - t
            batch = to_device(batch, eng.device, eng.decode, cfg.data.load_size)
            torch.manual_seed(step_seed(cfg.seed, step, eng.dist.rank * accum + a))
            sync = eng.dist.enabled and a < accum - 1
            with eng.model.no_sync() if sync else contextlib.nullcontext():
                with torch.autocast(device_type=eng.device.type, dtype=torch.bfloat16, enabled=eng.amp):
                    out = eng.model(batch)
                (out.loss / accum).backward()
            d = out.loss.detach().float()
            loss_sum = d if loss_sum is None else loss_sum + d
            for k, v in out.logs.items():
                v = torch.as_tensor(v, device=eng.device).detach().float()
                logs_sum[k] = logs_sum[k] + v if k in logs_sum else v
        if cfg.optim.grad_clip:
            nn.utils.clip_grad_norm_([p for p in eng.method.parameters() if p.requires_grad], cfg.optim.grad_clip)
        eng.optimizer.step()
        eng.scheduler.step()
        eng.optimizer.zero_grad(set_to_none=True)
        after = getattr(eng.method, "after_step", None)
        if after is not None:
            after(step)
    except torch.OutOfMemoryError:
        micro = cfg.optim.batch_size // (eng.dist.world_size * accum)
        raise TrainingError(
            f"CUDA out of memory at {micro} clips per micro-batch (--batch-size {cfg.optim.batch_size}, "
            f"--accum {accum}, {eng.dist.world_size} process(es)): lower --batch-size or raise --accum"
        ) from None
    return loss_sum / accum, {k: v / accum for k, v in logs_sum.items()}, wait
