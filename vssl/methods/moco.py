"""MoCo v2 on video clips: two clips of one video are a positive pair.

He et al. 2020 (MoCo, https://arxiv.org/abs/1911.05722); Chen et al. 2020
(MoCo v2, https://arxiv.org/abs/2003.04297): MLP head, stronger augmentation,
cosine schedule. The video setting follows the shared contrastive setup of
RECIPES.md that BE, DSM and FAME build on (it is the baseline those papers
compare with): m = 0.999, queue 2 048 for UCF101-sized data (65 536 for
Kinetics-400), projection 128, tau 0.07, SGD lr 0.003, weight decay 1e-4,
16 x 112 x 112 clips, augmentation identical over the frames of a clip.
Shuffle BN for the keys (MoCo sec. 3.3, ``_batch_shuffle_ddp`` of the MoCo v2
and FAME code; one process: the split-batch equivalent of
:class:`vssl.methods.common.MomentumPair`), ``shuffle_bn`` / ``bn_splits``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vssl.data.requires import Requires
from vssl.methods.common import (
    StepOut,
    check_shuffle_bn,
    float_clips,
    momentum_contrast,
    no_autocast,
    norm,
    setup_momentum_method,
)


@dataclass(frozen=True)
class Config:
    """MoCo hyperparameters (RECIPES.md, shared contrastive setup)."""

    temperature: float = 0.07
    momentum: float = 0.999
    queue_size: int = 2048  # 65 536 for Kinetics-400
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2  # random resized crop scale (0.2, 1)
    symmetric: bool = False  # MoCo v2 is not symmetrised; True adds the (k, q) direction
    shuffle_bn: bool = True  # MoCo v2 code: batch shuffle of the keys
    bn_splits: int = 2  # key sub-batches on one process (split-batch Shuffle BN)

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, queue_size=16)

    def __post_init__(self):
        check_shuffle_bn("moco", self)


class MoCo(nn.Module):
    """MoCo v2: query = clip 1, key = clip 2 of the same video (momentum encoder), queue negatives."""

    Config = Config
    RECIPE = {"optim": {"lr": 0.003, "weight_decay": 1e-4}}
    # demo preset (vssl.train.presets): key-encoder momentum 0.99, not 0.999 (after n steps the key encoder
    # has followed the query encoder by 1 - m^n: 0.999 leaves it at 33 % after 400 steps, 0.99 at 98 %), and a
    # queue of 64, not 2 048: smaller than the training set, or it holds older clips of the query's own video
    PRESETS: dict = {"demo": {"momentum": 0.99, "queue_size": 64, "crop": 56}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        setup_momentum_method(self, backbone, feat_dim, cfg)

    @property
    def requires(self) -> Requires:
        return Requires(views=2)

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]
        with no_autocast(clips.device):
            x1, _, _ = self.augment(float_clips(clips[:, 0]))
            x2, _, _ = self.augment(float_clips(clips[:, 1]))
            x1, x2 = norm(x1), norm(x2)
        loss, acc = momentum_contrast(self.enc, x1, x2, self.cfg.temperature)
        if self.cfg.symmetric:
            loss2, acc2 = momentum_contrast(self.enc, x2, x1, self.cfg.temperature)
            loss, acc = (loss + loss2) / 2, (acc + acc2) / 2
        return StepOut(loss, {"acc": acc})

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.enc.update()
