"""SimCLR on video clips: two clips of one video, NT-Xent over the global batch.

Chen et al. 2020 (https://arxiv.org/abs/2002.05709): projection MLP with batch
norm, NT-Xent over the 2B views, no momentum encoder, no queue. On video the
two views are clips of one video at different start times, each with its own
augmentation (as CVRL, Qian et al. 2021, https://arxiv.org/abs/2008.03800,
which uses tau 0.1). With DDP the projections are gathered (with gradient) so
each clip is contrasted against the whole global batch.

No paper gives an SGD recipe for video SimCLR; lr 0.03 and weight decay 1e-4
with the cosine schedule are ours (SimCLR itself uses LARS).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vssl.data.requires import Requires
from vssl.dist import gather_with_grad
from vssl.losses import nt_xent
from vssl.methods.common import (
    StepOut,
    float_clips,
    make_augment,
    no_autocast,
    norm,
)
from vssl.models import MLPHead


@dataclass(frozen=True)
class Config:
    """SimCLR hyperparameters."""

    temperature: float = 0.1  # CVRL
    proj_dim: int = 128
    hidden_dim: int = 0  # 0 = the backbone's feat_dim
    crop: int = 112
    min_scale: float = 0.2

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24)


class SimCLR(nn.Module):
    """SimCLR: NT-Xent between the projections of two clips of each video."""

    Config = Config
    RECIPE = {"optim": {"lr": 0.03, "weight_decay": 1e-4}}
    PRESETS: dict = {"demo": {"crop": 56, "_optim.lr": 0.1}}  # demo preset (vssl.train.presets)

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.head = MLPHead(feat_dim, cfg.hidden_dim or feat_dim, cfg.proj_dim, batch_norm=True)
        self.augment = make_augment(cfg.crop, cfg.min_scale)

    @property
    def requires(self) -> Requires:
        return Requires(views=2)

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]
        b = clips.shape[0]
        with no_autocast(clips.device):
            x1, _, _ = self.augment(float_clips(clips[:, 0]))
            x2, _, _ = self.augment(float_clips(clips[:, 1]))
            x = norm(torch.cat([x1, x2], dim=0))
        z = self.head(self.backbone(x)).float()  # (2B, D), one BN batch
        z1, z2 = gather_with_grad(z[:b]), gather_with_grad(z[b:])
        loss = nt_xent(z1, z2, temperature=self.cfg.temperature)
        return StepOut(loss, {})

    forward = training_step
