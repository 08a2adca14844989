"""Barlow Twins on video clips: the cross-correlation of two clips' embeddings pushed to the identity.

Zbontar et al. 2021 (https://arxiv.org/abs/2103.03230), reference code
facebookresearch/barlowtwins (RECIPES.md, "Barlow Twins"): projector 8192-8192-8192
(linear layers without bias, batch norm and ReLU after the first two); ``C`` = the
cross-correlation of the batch-standardised embeddings over the (global) batch;
``L = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2`` with the code's lambda 0.0051
(:func:`vssl.losses.cross_correlation_loss`); LARS (trust coefficient 0.001, weight decay
and adaptation skipped for 1-D parameters), lr 0.2 x batch / 256 for the weights and
0.0048 x batch / 256 for biases and norms, weight decay 1e-6, 10 warm-up epochs, cosine
to 0.001 x, 1000 epochs; the asymmetric BYOL augmentation (``augment="byol"``).

On video (no published video recipe): the views are rho >= 2 clips of one video at
different start times (``clips``), the loss the mean over the unordered pairs of clips.
Under DDP the embeddings are gathered with gradient, so ``C`` spans the global batch as
the reference's all-reduced one. With a per-step batch far below the projector width
most of ``C``'s off-diagonal entries are noise (RECIPES.md, notes for video use): the
widths are options.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vssl.losses import cross_correlation_loss
from vssl.methods.common import StepOut
from vssl.methods.siamese import (
    ClipsEncoder,
    ViewAugmentStyle,
    check_dims,
    check_siamese,
    collapse_stats,
    mlp,
    unordered_pairs,
)
from vssl.dist import gather_with_grad


@dataclass(frozen=True)
class Config:
    """Barlow Twins hyperparameters (RECIPES.md, "Barlow Twins")."""

    lambd: float = 0.0051  # weight of the off-diagonal terms (code default; 5e-3 in the paper)
    proj_dim: int = 8192
    hidden_dim: int = 8192
    clips: int = 2  # rho: clips of one video used as positives of one another
    crop: int = 112
    min_scale: float = 0.08  # torchvision RandomResizedCrop default, as the reference
    augment: ViewAugmentStyle = "byol"  # byol (the reference's asymmetric set) | mocov2

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=32, hidden_dim=32)

    def __post_init__(self):
        check_siamese("barlow", self)
        check_dims("barlow", proj_dim=self.proj_dim, hidden_dim=self.hidden_dim)
        if not self.lambd >= 0:
            raise ValueError(f"barlow lambd must be >= 0, got {self.lambd}")


class BarlowTwins(ClipsEncoder):
    """Barlow Twins: redundancy reduction between the projector outputs of the clips of a video."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "lars", "lr": 0.2, "lr_scaling": "linear", "base_batch": 256,
                        "norm_bias_lr_scale": 0.024, "weight_decay": 1e-6, "momentum": 0.9, "lars_eta": 0.001,
                        "exclude_norm_bias": True, "epochs": 1000, "warmup_epochs": 10.0,
                        "min_lr_ratio": 0.001}}
    # demo preset (vssl.train.presets): heads scaled to the 64 features of the tiny backbone (the papers'
    # widths are for 2048), no linear lr scaling (at batch 16 it divides the rate by 16 or 4).
    # LARS moves each weight by about lr * 0.001 of its norm per step, so the LARS rates are of the order of
    # the papers' effective ones at their batches (1.6 - 4.8); not tuned.
    # (Barlow Twins: 256-256-256)
    PRESETS: dict = {"demo": {"crop": 56, "hidden_dim": 256, "proj_dim": 256, "_optim.lr": 1.0,
                              "_optim.lr_scaling": "none"}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        projector = mlp([feat_dim, cfg.hidden_dim, cfg.hidden_dim, cfg.proj_dim], hidden_bias=False, last_bias=False)
        self._setup(backbone, cfg, projector)

    def training_step(self, batch: dict) -> StepOut:
        hs, zs = self.encode_clips(batch)
        z_all = [gather_with_grad(z) for z in zs]
        pairs = unordered_pairs(len(zs))
        loss = sum(cross_correlation_loss(z_all[i], z_all[j], lambd=self.cfg.lambd) for i, j in pairs) / len(pairs)
        logs = {**collapse_stats(zs[0], "emb"), **collapse_stats(hs[0], "rep")}
        return StepOut(loss, logs)

    forward = training_step
