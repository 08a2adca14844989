"""BYOL on video clips (rho-BYOL): an online network predicts an EMA target network's projections.

Grill et al. 2020 (https://arxiv.org/abs/2006.07733); on video, rho-BYOL of Feichtenhofer
et al., CVPR 2021 (https://arxiv.org/abs/2104.14558) and its public SlowFast config
(RECIPES.md, "Methods I"): the rho >= 2 clips of one video are positives; each clip's
online prediction ``q = g_p(g(f(x)))`` regresses the target projection ``k = g_xi(f_xi(x'))``
of every other clip (stop-gradient), ``L = 2 - 2 cos(q, k)``, averaged over the ordered
pairs of clips (the mean of the rho sub-losses); projector and predictor are 2-layer MLPs
(hidden 4096 with batch norm, output 256); target EMA per step
``tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2`` from ``tau_base = 0.996`` to 1 over
the run's ``K`` steps (BYOL ``schedules.target_ema``; the loop passes ``K`` through
:meth:`BYOL.set_total_steps`); LARS (trust coefficient 0.001, biases and batch norm
excluded from weight decay and adaptation), lr 0.6 per 64 clips (the config's BASE_LR per
8-GPU node, linear scaling), weight decay 1e-6, 35 warm-up epochs, 200 epochs, cosine.

Each clip goes through the online and target networks on its own (per-clip batch-norm
statistics), as the reference forwards each view separately. ``augment="byol"`` is the
image code's asymmetric augmentation (:class:`vssl.methods.siamese.ViewAugment`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vssl.data.requires import Requires
from vssl.losses import normalized_mse
from vssl.methods.common import StepOut
from vssl.methods.siamese import (
    ViewAugment,
    ViewAugmentStyle,
    check_dims,
    check_siamese,
    collapse_stats,
    ordered_pairs,
)
from vssl.models import MLPHead, copy_to_momentum, momentum_update


@dataclass(frozen=True)
class Config:
    """BYOL hyperparameters (RECIPES.md, rho-BYOL config and BYOL)."""

    proj_dim: int = 256
    hidden_dim: int = 4096  # projector hidden width
    pred_hidden_dim: int = 4096  # predictor hidden width
    tau_base: float = 0.996  # target EMA at the first step
    tau_schedule: Literal["cosine", "constant"] = "cosine"  # cosine: to 1 at the last step; constant: tau_base throughout
    clips: int = 2  # rho: clips of one video used as positives of one another (the config's rho = 2)
    crop: int = 112
    min_scale: float = 0.2
    augment: ViewAugmentStyle = "mocov2"  # mocov2: the video study's set, shared; byol: the image code's

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=16, hidden_dim=32, pred_hidden_dim=32)

    def __post_init__(self):
        check_siamese("byol", self)
        check_dims("byol", proj_dim=self.proj_dim, hidden_dim=self.hidden_dim, pred_hidden_dim=self.pred_hidden_dim)
        if not 0.0 <= self.tau_base <= 1.0:
            raise ValueError(f"byol tau_base must be in [0, 1], got {self.tau_base}")


def target_tau(step: int, total: int | None, base: float, schedule: str = "cosine") -> float:
    """EMA coefficient after optimiser step ``step`` (0-based) of ``total``:
    ``1 - (1 - base) (cos(pi step / total) + 1) / 2`` (``base`` when ``total`` is unknown or
    the schedule is constant)."""
    if schedule == "constant" or not total:
        return base
    k = min(max(step, 0), total)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total) + 1.0) / 2.0


class BYOL(nn.Module):
    """BYOL: online backbone + projector + predictor, EMA target backbone + projector."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "lars", "lr": 0.6, "lr_scaling": "linear", "base_batch": 64,
                        "weight_decay": 1e-6, "momentum": 0.9, "lars_eta": 0.001, "exclude_norm_bias": True,
                        "epochs": 200, "warmup_epochs": 35.0}}
    # demo preset (vssl.train.presets): heads scaled to the 64 features of the tiny backbone (the papers'
    # widths are for 2048), no linear lr scaling (at batch 16 it divides the rate by 16 or 4).
    # LARS moves each weight by about lr * 0.001 of its norm per step, so the LARS rates are of the order of
    # the papers' effective ones at their batches (1.6 - 4.8); not tuned.
    # (BYOL: 256 / 64; the EMA from 0.99, not 0.996, as the key momentum of the MoCo family's demo)
    PRESETS: dict = {"demo": {"crop": 56, "hidden_dim": 256, "proj_dim": 64, "pred_hidden_dim": 256, "tau_base": 0.99,
                              "_optim.lr": 1.5, "_optim.lr_scaling": "none"}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.projector = MLPHead(feat_dim, cfg.hidden_dim, cfg.proj_dim, batch_norm=True)
        self.predictor = MLPHead(cfg.proj_dim, cfg.pred_hidden_dim, cfg.proj_dim, batch_norm=True)
        self.target_backbone = copy_to_momentum(backbone)
        self.target_projector = copy_to_momentum(self.projector)
        self.augment = ViewAugment(cfg.crop, cfg.min_scale, cfg.augment)
        self.total_steps: int | None = None

    @property
    def requires(self) -> Requires:
        return Requires(views=self.cfg.clips)

    def set_total_steps(self, total: int) -> None:
        """The run's number of optimiser steps ``K`` of the cosine EMA schedule (the loop calls it)."""
        self.total_steps = int(total)

    def tau(self, step: int) -> float:
        return target_tau(step, self.total_steps, self.cfg.tau_base, self.cfg.tau_schedule)

    def training_step(self, batch: dict) -> StepOut:
        xs = list(self.augment(batch["clips"]))
        hs = [self.backbone(x) for x in xs]
        zs = [self.projector(h) for h in hs]
        qs = [self.predictor(z).float() for z in zs]
        with torch.no_grad():
            ks = [self.target_projector(self.target_backbone(x)).float() for x in xs]
        pairs = ordered_pairs(len(xs))
        loss = sum(normalized_mse(qs[i], ks[j]) for i, j in pairs) / len(pairs)
        logs = {**collapse_stats(zs[0], "emb"), **collapse_stats(hs[0], "rep")}
        return StepOut(loss, logs)

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """EMA step of the target backbone and projector with ``tau(step)``."""
        tau = self.tau(step)
        momentum_update(self.backbone, self.target_backbone, tau, copy_buffers=False)
        momentum_update(self.projector, self.target_projector, tau, copy_buffers=False)
