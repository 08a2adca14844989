"""VICReg on video clips: invariance, variance and covariance terms on two clips' expander outputs.

Bardes, Ponce & LeCun 2022 (https://arxiv.org/abs/2105.04906), reference code
facebookresearch/vicreg (RECIPES.md, "VICReg"): expander 8192-8192-8192 (linear layers
with bias, batch norm and ReLU after the first two; the last linear without bias);
``L = 25 inv + 25 var + 1 cov`` (:mod:`vssl.losses.variance_invariance_covariance`) with
the invariance over the local batch and the variance and covariance over the batch
gathered across processes with gradient, as the reference; LARS (trust coefficient
0.001, biases and norms excluded from weight decay and adaptation), lr 0.2 x batch / 256,
weight decay 1e-6, 10 warm-up epochs, cosine to 0.001 x, 100 epochs (the code's default;
the paper trains 1000); the asymmetric BYOL augmentation (``augment="byol"``).

On video (no published video recipe): the views are rho >= 2 clips of one video at
different start times (``clips``), the loss the mean over the unordered pairs of clips.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vssl.losses import covariance, invariance, variance
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
    """VICReg hyperparameters (RECIPES.md, "VICReg")."""

    inv_weight: float = 25.0  # sim-coeff
    var_weight: float = 25.0  # std-coeff
    cov_weight: float = 1.0  # cov-coeff
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
        check_siamese("vicreg", self)
        check_dims("vicreg", proj_dim=self.proj_dim, hidden_dim=self.hidden_dim)
        for name in ("inv_weight", "var_weight", "cov_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"vicreg {name} must be >= 0, got {getattr(self, name)}")


class VICReg(ClipsEncoder):
    """VICReg: invariance between the clips of a video, variance and decorrelation of each clip's embeddings."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "lars", "lr": 0.2, "lr_scaling": "linear", "base_batch": 256,
                        "weight_decay": 1e-6, "momentum": 0.9, "lars_eta": 0.001, "exclude_norm_bias": True,
                        "epochs": 100, "warmup_epochs": 10.0, "min_lr_ratio": 0.001}}
    # demo preset (vssl.train.presets): heads scaled to the 64 features of the tiny backbone (the papers'
    # widths are for 2048), no linear lr scaling (at batch 16 it divides the rate by 16 or 4).
    # LARS moves each weight by about lr * 0.001 of its norm per step, so the LARS rates are of the order of
    # the papers' effective ones at their batches (1.6 - 4.8); not tuned.
    # (VICReg: 256-256-256)
    PRESETS: dict = {"demo": {"crop": 56, "hidden_dim": 256, "proj_dim": 256, "_optim.lr": 1.0,
                              "_optim.lr_scaling": "none"}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        projector = mlp([feat_dim, cfg.hidden_dim, cfg.hidden_dim, cfg.proj_dim], hidden_bias=True, last_bias=False)
        self._setup(backbone, cfg, projector)

    def training_step(self, batch: dict) -> StepOut:
        c = self.cfg
        hs, zs = self.encode_clips(batch)
        z_all = [gather_with_grad(z) for z in zs]
        pairs = unordered_pairs(len(zs))
        inv = sum(invariance(zs[i], zs[j]) for i, j in pairs) / len(pairs)
        var = sum((variance(z_all[i]) + variance(z_all[j])) / 2 for i, j in pairs) / len(pairs)
        cov = sum(covariance(z_all[i]) + covariance(z_all[j]) for i, j in pairs) / len(pairs)
        loss = c.inv_weight * inv + c.var_weight * var + c.cov_weight * cov
        logs = {"inv": inv.detach(), "var": var.detach(), "cov": cov.detach(),
                **collapse_stats(zs[0], "emb"), **collapse_stats(hs[0], "rep")}
        return StepOut(loss, logs)

    forward = training_step
