"""DirectCLR on video clips: InfoNCE on a fixed sub-vector of the backbone's features, no projector.

Jing, Vincent, LeCun & Tian, ICLR 2022 ("Understanding Dimensional Collapse in
Contrastive Self-supervised Learning", https://arxiv.org/abs/2110.09348), reference code
facebookresearch/directclr, mode ``directclr`` (RECIPES.md, "DirectCLR"): no trainable
projector; the first ``dim`` = 360 dimensions of the pooled backbone representation go
into InfoNCE (temperature 0.1) with cross-view negatives only (logits ``z1 z2^T`` over the
gathered batch, positives on the diagonal: N - 1 negatives), symmetrised
``1/2 L(z1, z2) + 1/2 L(z2, z1)`` (:func:`vssl.losses.info_nce` without a queue); LARS
(trust coefficient 0.001, biases and norms excluded), lr 4.8 unscaled, weight decay 1e-6,
10 warm-up epochs, cosine to 0.001 x, 100 epochs; the asymmetric BYOL augmentation.

The reference adds an online linear classifier on the detached features (labels,
monitoring only); vssl leaves it out (``vssl eval linear`` does that job) and logs the
collapse monitor of the whole representation (``rep_*``), which is what the paper studies.
On video: rho >= 2 clips of one video (``clips``), the loss the mean over the ordered pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from vssl.errors import InputError
from vssl.losses import info_nce_logits
from vssl.methods.common import StepOut, top1
from vssl.methods.siamese import (
    ClipsEncoder,
    ViewAugmentStyle,
    check_dims,
    check_siamese,
    collapse_stats,
    ordered_pairs,
)
from vssl.dist import gather_with_grad


@dataclass(frozen=True)
class Config:
    """DirectCLR hyperparameters (RECIPES.md, "DirectCLR")."""

    dim: int = 360  # d0: leading dimensions of the representation sent to InfoNCE (README's best run)
    temperature: float = 0.1
    clips: int = 2  # rho: clips of one video used as positives of one another
    crop: int = 112
    min_scale: float = 0.08  # torchvision RandomResizedCrop default, as the reference
    augment: ViewAugmentStyle = "byol"  # byol (the reference's asymmetric set) | mocov2

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, dim=16)

    def __post_init__(self):
        check_siamese("directclr", self)
        check_dims("directclr", dim=self.dim)
        if not self.temperature > 0:
            raise ValueError(f"directclr temperature must be > 0, got {self.temperature}")


class DirectCLR(ClipsEncoder):
    """DirectCLR: InfoNCE between the leading ``dim`` features of the clips of each video."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "lars", "lr": 4.8, "lr_scaling": "none", "weight_decay": 1e-6, "momentum": 0.9,
                        "lars_eta": 0.001, "exclude_norm_bias": True, "epochs": 100, "warmup_epochs": 10.0,
                        "min_lr_ratio": 0.001}}
    # demo preset (vssl.train.presets): heads scaled to the 64 features of the tiny backbone (the papers'
    # widths are for 2048), no linear lr scaling (at batch 16 it divides the rate by 16 or 4).
    # LARS moves each weight by about lr * 0.001 of its norm per step, so the LARS rates are of the order of
    # the papers' effective ones at their batches (1.6 - 4.8); not tuned.
    # (DirectCLR: the sub-vector 16 of 64 features; its recipe has no lr scaling already)
    PRESETS: dict = {"demo": {"crop": 56, "dim": 16, "_optim.lr": 4.8}}
    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        if cfg.dim > feat_dim:
            raise InputError(f"directclr.dim {cfg.dim} is larger than the backbone's feature dimension {feat_dim} "
                             f"(set --set directclr.dim=N with N <= {feat_dim})")
        self._setup(backbone, cfg)

    def training_step(self, batch: dict) -> StepOut:
        xs = self.augment(batch["clips"])
        hs = [self.backbone(x).float() for x in xs]
        zs = [gather_with_grad(h[:, : self.cfg.dim]) for h in hs]  # (N, dim), the global batch
        pairs = ordered_pairs(len(xs))
        loss, acc = 0.0, 0.0
        for i, j in pairs:
            logits, labels = info_nce_logits(zs[i], zs[j], temperature=self.cfg.temperature)
            loss = loss + F.cross_entropy(logits, labels) / len(pairs)
            acc = acc + top1(logits, labels) / len(pairs)
        logs = {"acc": acc, **collapse_stats(hs[0][:, : self.cfg.dim], "emb"), **collapse_stats(hs[0], "rep")}
        return StepOut(loss, logs)

    forward = training_step
