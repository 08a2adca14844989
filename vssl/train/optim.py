"""Optimisers: the ``OPTIMIZERS`` registry (``sgd``, ``lars``, ``adamw``) and parameter groups.

A run's optimiser is ``optim.optimizer`` of its config, set by the method's paper
recipe (its ``RECIPE``): SGD for the MoCo family, LARS for BYOL, Barlow Twins,
VICReg and DirectCLR (RECIPES.md, "Methods I"). :func:`param_groups` splits the
trained parameters into the groups a recipe asks for:

* ``exclude_norm_bias``: the 1-D parameters (biases, batch-norm / layer-norm scales
  and shifts) get no weight decay and, under LARS, no trust-ratio adaptation (the
  ``exclude_bias_and_norm`` filter of the Barlow Twins / VICReg / DirectCLR code,
  BYOL's exclusion of biases and batch norm);
* ``norm_bias_lr_scale``: their learning rate is the peak lr times this (Barlow
  Twins: 0.0048 / 0.2 = 0.024);
* ``fixed_lr``: parameters that keep the peak lr while the others follow the
  schedule (SimSiam's ``--fix-pred-lr`` for the predictor).

Each group carries ``lr_scale`` and ``fixed_lr`` for the scheduler
(:func:`schedule_lambdas`) and ``lars_exclude`` for :class:`LARS`.

:func:`lr_factor` is the learning-rate schedule (``optim.schedule``): a linear warm-up, then
either a cosine decay (the default) or a step decay (``StepLR`` / ``MultiStepLR``: ``gamma``
at each milestone, a fraction of the run). The pretraining loop and ``vssl eval finetune``
both use it.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence, get_args

import torch
from torch import Tensor, nn

from vssl.errors import InputError
from vssl.train.config import Schedule


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al. 2017,
    https://arxiv.org/abs/1708.03888), in the form of the BYOL, Barlow Twins, VICReg
    and DirectCLR code.

    Per parameter ``w`` with gradient ``g``, each step:

    1. ``u = g + weight_decay * w``;
    2. unless the group has ``lars_exclude``: ``u = u * eta * ||w|| / ||u||``
       (the trust ratio; 1 when ``||w||`` or ``||u||`` is 0);
    3. ``mu = momentum * mu + u`` (``mu`` starts at 0);
    4. ``w = w - lr * mu``.

    Weight decay comes before the trust ratio, so it is part of ``||u||``. Groups
    with ``lars_exclude`` are meant to have ``weight_decay=0`` too
    (:func:`param_groups`).

    Args:
        params: parameters or groups (a group may set ``lr``, ``weight_decay``,
            ``momentum``, ``eta``, ``lars_exclude``).
        lr: learning rate.
        momentum: momentum of the buffer ``mu`` (0.9 in all four recipes).
        weight_decay: L2 factor added to the gradient.
        eta: trust coefficient (0.001 in all four recipes).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001):
        if lr < 0 or weight_decay < 0 or not 0 <= momentum < 1 or eta <= 0:
            raise ValueError(f"LARS needs lr >= 0, weight_decay >= 0, momentum in [0, 1), eta > 0; "
                             f"got {lr}, {weight_decay}, {momentum}, {eta}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta,
                                      lars_exclude=False))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd, eta, mom, lr = group["weight_decay"], group["eta"], group["momentum"], group["lr"]
            adapt = not group.get("lars_exclude", False)
            for p in group["params"]:
                if p.grad is None:
                    continue
                u = p.grad.float()
                w = p.float()
                if wd:
                    u = u.add(w, alpha=wd)
                if adapt:
                    w_norm, u_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(u)
                    trust = torch.where((w_norm > 0) & (u_norm > 0), eta * w_norm / u_norm.clamp_min(1e-30),
                                        torch.ones_like(w_norm))
                    u = u * trust
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p, dtype=torch.float32)
                mu = state["mu"]
                mu.mul_(mom).add_(u)
                p.add_(mu.to(p.dtype), alpha=-lr)
        return loss


def is_norm_or_bias(p: Tensor) -> bool:
    """The parameters a recipe's exclusion applies to: 1-D ones (biases, norm scales and shifts)."""
    return p.ndim <= 1


def param_groups(
    model: nn.Module,
    *,
    weight_decay: float,
    exclude_norm_bias: bool = False,
    norm_bias_lr_scale: float = 1.0,
    fixed_lr: Callable[[str], bool] | None = None,
) -> list[dict]:
    """The trained parameters of ``model`` (``requires_grad``) in optimiser groups.

    Args:
        model: the method (its parameter names decide ``fixed_lr``).
        weight_decay: weight decay of the ordinary parameters.
        exclude_norm_bias: no weight decay and no LARS adaptation for 1-D parameters.
        norm_bias_lr_scale: lr multiplier of the 1-D parameters (1 = same lr).
        fixed_lr: ``name -> bool``: parameters that keep the peak lr (no schedule).

    Returns:
        Non-empty groups, each ``{"params", "weight_decay", "lars_exclude",
        "lr_scale", "fixed_lr", "name"}``, in a fixed order (ordinary, norm/bias,
        then their fixed-lr versions). With no exclusion, no lr scale and no
        fixed-lr parameter, a single group holds every parameter in model order.
    """
    special = exclude_norm_bias or norm_bias_lr_scale != 1.0
    buckets: dict[tuple[bool, bool], list[Tensor]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        nb = special and is_norm_or_bias(p)
        fixed = bool(fixed_lr and fixed_lr(name))
        buckets.setdefault((fixed, nb), []).append(p)
    groups = []
    for fixed in (False, True):
        for nb in (False, True):
            params = buckets.get((fixed, nb))
            if not params:
                continue
            excl = nb and exclude_norm_bias
            groups.append({
                "params": params,
                "weight_decay": 0.0 if excl else weight_decay,
                "lars_exclude": excl,
                "lr_scale": norm_bias_lr_scale if nb else 1.0,
                "fixed_lr": fixed,
                "name": ("norm_bias" if nb else "weights") + ("_fixed_lr" if fixed else ""),
            })
    return groups


def layer_decay_groups(model: nn.Module, groups: list[dict], decay: float, prefix: str = "backbone.") -> list[dict]:
    """Split ``groups`` (:func:`param_groups` of ``model``) by layer-wise lr decay (BEiT, MAE and VideoMAE
    finetuning): a parameter of layer ``i`` of the ViT at ``model.<prefix>`` gets ``lr_scale`` times
    ``decay ** (L - i)`` (``L = num_layers``: the last layer and everything outside the backbone 1).

    ``decay`` 1, or a backbone without ``layer_id``, returns ``groups`` unchanged.
    """
    net = getattr(model, prefix.rstrip("."), None)
    if decay == 1.0 or not callable(getattr(net, "layer_id", None)):
        return groups
    if not 0.0 < decay <= 1.0:
        raise InputError(f"layer decay must be in (0, 1], got {decay}")
    top = net.num_layers - 1
    scale_of = {id(p): decay ** (top - net.layer_id(n[len(prefix):])) if n.startswith(prefix) else 1.0
                for n, p in model.named_parameters()}
    out = []
    for g in groups:
        by_scale: dict[float, list[Tensor]] = {}
        for p in g["params"]:
            by_scale.setdefault(scale_of[id(p)], []).append(p)
        for s, params in sorted(by_scale.items()):
            out.append({**g, "params": params, "lr_scale": g.get("lr_scale", 1.0) * s,
                        "name": f"{g['name']}_x{s:.4g}"})
    return out


def _sgd(groups: list[dict], *, lr: float, momentum: float, nesterov: bool, **_) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)


def _lars(groups: list[dict], *, lr: float, momentum: float, eta: float, **_) -> torch.optim.Optimizer:
    return LARS(groups, lr=lr, momentum=momentum, eta=eta)


def _adamw(groups: list[dict], *, lr: float, betas: tuple[float, float], **_) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"sgd": _sgd, "lars": _lars, "adamw": _adamw}
"""Registry: ``optim.optimizer`` -> builder ``(groups, *, lr, momentum, nesterov, eta, betas)``.
SGD uses ``momentum`` and ``nesterov``, LARS ``momentum`` and ``eta``, AdamW ``betas``;
weight decay is per group (:func:`param_groups`)."""


def build_optimizer(name: str, groups: Iterable[dict], *, lr: float, momentum: float = 0.9, nesterov: bool = False,
                    eta: float = 0.001, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """The optimiser ``name`` of :data:`OPTIMIZERS` over ``groups``; each group's initial lr is
    ``lr * group["lr_scale"]`` (1 when absent). One-line InputError for an unknown name."""
    try:
        make = OPTIMIZERS[name]
    except KeyError:
        raise InputError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}") from None
    groups = [{**g, "lr": lr * g.get("lr_scale", 1.0)} for g in groups]
    return make(groups, lr=lr, momentum=momentum, nesterov=nesterov, eta=eta, betas=betas)


SCHEDULES = get_args(Schedule)
"""``optim.schedule`` choices of :func:`lr_factor` (the ``Literal`` of :class:`vssl.train.config.OptimConfig`)."""


def lr_factor(step: int, total: int, warmup: int, min_ratio: float = 0.0, *, schedule: str = "cosine",
              milestones: Sequence[float] = (), gamma: float = 0.1, peak: float = 1.0) -> float:
    """The learning rate at optimiser step ``step`` (0-based) of ``total``, as ``peak`` times a factor.

    * warm-up: ``peak * (step + 1) / warmup`` for the first ``warmup`` steps;
    * ``schedule="cosine"``: from the end of the warm-up, ``min_ratio + (1 - min_ratio) * (1 + cos(pi p)) / 2``
      with ``p = (step - warmup) / (total - warmup)`` (capped at 1), so the lr ends at ``min_ratio * peak``;
    * ``schedule="step"``: ``gamma ** n``, ``n`` the number of ``milestones`` (fractions of ``total``) with
      ``step >= round(m * total)``; ``min_ratio`` is not used. Milestones 1/3, 2/3 of 18 epochs are the
      ``StepLR(step_size=6, gamma=0.1)`` of Pace's code.

    ``peak`` is the peak lr: 1 gives the ``LambdaLR`` multiplier; a rate in its place computes the warm-up
    as ``peak * (step + 1) / warmup`` in that order (the finetune's rates, to the bit).
    """
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "step":
        return peak * gamma ** sum(step >= round(m * total) for m in milestones)
    if schedule != "cosine":
        raise InputError(f"unknown lr schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def schedule_lambdas(optimizer: torch.optim.Optimizer, factor: Callable[[int], float]) -> list[Callable[[int], float]]:
    """One ``LambdaLR`` multiplier per group: ``factor`` (:func:`lr_factor`), or 1 for the
    groups with ``fixed_lr`` (they keep their initial lr)."""
    return [(lambda s: 1.0) if g.get("fixed_lr") else factor for g in optimizer.param_groups]
