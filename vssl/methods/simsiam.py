"""SimSiam on video clips: a predictor and a stop-gradient, no negatives, no momentum encoder.

Chen & He 2021 (https://arxiv.org/abs/2011.10566), reference code
facebookresearch/simsiam (RECIPES.md, "SimSiam"): projector of three linear layers
(the first two without bias, each followed by batch norm and ReLU; the last followed
by batch norm without affine parameters), output 2048; predictor 2048 -> 512 (batch
norm, ReLU) -> 2048; loss ``-1/2 [cos(p1, sg(z2)) + cos(p2, sg(z1))]``; SGD, lr
0.05 x batch / 256, momentum 0.9, weight decay 1e-4, cosine schedule, 100 epochs; the
predictor at the initial lr (``--fix-pred-lr``, used by the README's command); the
MoCo v2 augmentation, which is the toolkit's shared one. The projector's hidden width
is the backbone's feature size (the reference's ``prev_dim``).

On video the views are clips of one video at different start times (``clips`` = rho,
Feichtenhofer et al. 2021); with rho > 2 the loss is the mean over the ordered pairs
of clips. Each clip goes through the network on its own (per-view batch-norm
statistics), as the reference calls the encoder once per view.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vssl.data.requires import Requires
from vssl.losses import negative_cosine
from vssl.methods.common import StepOut
from vssl.methods.siamese import (
    ViewAugment,
    ViewAugmentStyle,
    check_dims,
    check_siamese,
    collapse_stats,
    mlp,
    ordered_pairs,
)


@dataclass(frozen=True)
class Config:
    """SimSiam hyperparameters (RECIPES.md, "SimSiam")."""

    proj_dim: int = 2048
    hidden_dim: int = 0  # projector width; 0 = the backbone's feat_dim (reference: prev_dim)
    pred_dim: int = 512  # predictor bottleneck
    fix_pred_lr: bool = True  # predictor keeps the initial lr (README command: --fix-pred-lr)
    clips: int = 2  # rho: clips of one video used as positives of one another
    crop: int = 112
    min_scale: float = 0.2  # random resized crop scale (0.2, 1), MoCo v2
    augment: ViewAugmentStyle = "mocov2"  # mocov2 | byol (vssl.methods.siamese.ViewAugment)

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=32, pred_dim=8)

    def __post_init__(self):
        check_siamese("simsiam", self)
        check_dims("simsiam", proj_dim=self.proj_dim, pred_dim=self.pred_dim)
        if not isinstance(self.hidden_dim, int) or self.hidden_dim < 0:
            raise ValueError(f"simsiam hidden_dim must be an integer >= 0 (0 = feat_dim), got {self.hidden_dim!r}")


class SimSiam(nn.Module):
    """SimSiam: each clip's prediction regresses the (stop-gradient) projection of the others."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "sgd", "lr": 0.05, "lr_scaling": "linear", "base_batch": 256,
                        "weight_decay": 1e-4, "momentum": 0.9, "epochs": 100}}
    # demo preset (vssl.train.presets): heads scaled to the 64 features of the tiny backbone (the papers'
    # widths are for 2048), no linear lr scaling (at batch 16 it divides the rate by 16 or 4).
    # (SimSiam: 256 with a 64 bottleneck)
    PRESETS: dict = {"demo": {"crop": 56, "proj_dim": 256, "pred_dim": 64, "_optim.lr": 0.05,
                              "_optim.lr_scaling": "none"}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        h = cfg.hidden_dim or feat_dim
        self.projector = mlp([feat_dim, h, h, cfg.proj_dim], hidden_bias=False, last_bias=False,
                             last_norm="bn_plain")
        self.predictor = mlp([cfg.proj_dim, cfg.pred_dim, cfg.proj_dim], hidden_bias=False, last_bias=True)
        self.augment = ViewAugment(cfg.crop, cfg.min_scale, cfg.augment)

    @property
    def requires(self) -> Requires:
        return Requires(views=self.cfg.clips)

    def fixed_lr(self, name: str) -> bool:
        """Parameters that keep the initial lr (the loop's optimiser groups): the predictor."""
        return self.cfg.fix_pred_lr and name.startswith("predictor.")

    def training_step(self, batch: dict) -> StepOut:
        xs = self.augment(batch["clips"])
        hs = [self.backbone(x) for x in xs]
        zs = [self.projector(h).float() for h in hs]
        ps = [self.predictor(z).float() for z in zs]
        pairs = ordered_pairs(len(xs))
        loss = sum(negative_cosine(ps[i], zs[j]) for i, j in pairs) / len(pairs)
        logs = {**collapse_stats(zs[0], "emb"), **collapse_stats(hs[0], "rep")}
        return StepOut(loss, logs)

    forward = training_step
