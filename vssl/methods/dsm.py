"""DSM: decoupling the scene and the motion.

Wang et al. 2021, "Enhancing Unsupervised Video Representation Learning by
Decoupling the Scene and the Motion" (https://arxiv.org/abs/2009.05757).
RECIPES.md, DSM:

* positive: a *spatial local disturbance* of the clip (1 to 3 smooth local
  warps, the same warp on every frame): motion kept, scene appearance broken;
* negative: a clip from another temporal segment of the same video (same scene,
  other motion), shifted when it falls within 2 frames of the positive. The
  paper also names temporal shuffling; the public code does not use it, nor
  does this one;
* the MoCo setup (m = 0.999, queue, tau 0.07, lr 0.003, weight decay 1e-4), the
  intra-video negative as one extra negative per query; or the triplet variant
  (margin 0.5) with ``loss="triplet"``.

Here the anchor and the positive are two augmentations of the same clip (crop,
flip, colour...), the positive then disturbed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vssl.data.transforms import local_disturbance
from vssl.methods.common import StepOut, float_clips, intra_video_contrast, no_autocast, norm, setup_momentum_method


@dataclass(frozen=True)
class Config:
    """DSM hyperparameters (RECIPES.md)."""

    temperature: float = 0.07
    momentum: float = 0.999
    queue_size: int = 2048
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2
    loss: str = "infonce"  # "infonce" (MoCo setup) | "triplet"
    margin: float = 0.5  # triplet variant
    triplet_distance: str = "euclidean"  # DSM's code: nn.TripletMarginLoss(p=2); or "cosine"
    warps_min: int = 1  # local warps per clip
    warps_max: int = 3

    def __post_init__(self):
        if self.loss not in ("infonce", "triplet"):
            raise ValueError(f"dsm loss must be 'infonce' or 'triplet', got {self.loss!r}")


class DSM(nn.Module):
    """DSM: anchor = clip, positive = locally disturbed clip, extra negative = other segment."""

    Config = Config
    RECIPE = {"optim": {"lr": 0.003, "weight_decay": 1e-4}}
    views = ("rgb",)

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        setup_momentum_method(self, backbone, feat_dim, cfg, queue=cfg.loss == "infonce")

    @property
    def requires(self) -> dict:
        return {"views": 1, "neg_clip": True}

    def training_step(self, batch: dict) -> StepOut:
        clips, neg = batch["clips"], batch["neg"]
        with no_autocast(clips.device):
            x = float_clips(clips[:, 0])
            anchor, _, _ = self.augment(x)
            pos, _, _ = self.augment(x)
            pos = local_disturbance(pos, n_warps=(self.cfg.warps_min, self.cfg.warps_max))
            negative, _, _ = self.augment(float_clips(neg))
            anchor, pos, negative = norm(anchor), norm(pos), norm(negative)
        return intra_video_contrast(self.enc, anchor, pos, negative, self.cfg)

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.enc.update()
