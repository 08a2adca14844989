"""DSM: decoupling the scene and the motion.

Wang et al. 2021, "Enhancing Unsupervised Video Representation Learning by
Decoupling the Scene and the Motion" (https://arxiv.org/abs/2009.05757).
RECIPES.md, DSM:

* positive: a *spatial local disturbance* of the clip (1 to 3 smooth local
  warps, the same warp on every frame): motion kept, scene appearance broken;
* negative: a clip from another temporal segment of the same video (same scene,
  other motion), shifted when it falls within 2 frames of the positive
  (``negative="segment"``, the public code). The paper also names a *temporal
  local disturbance* of the clip; ``negative="shuffle"`` offers it as the clip's
  frames in a random order;
* the MoCo setup (m = 0.999, queue, tau 0.07, lr 0.003, weight decay 1e-4), the
  intra-video negative as one extra negative per query, embedded by the query
  encoder with gradient (as the public code; ``neg_encoder="momentum"`` = no
  gradient); or the triplet variant (margin 0.5, L2-normalised embeddings, plus
  an inter-video term) with ``loss="triplet"``.

Views (``train_dsm`` of the public code): anchor and positive are two
augmentations of the same clip; the warp is applied to the anchor, the query
of the online encoder (``warp_view="query"``; ``"key"`` warps the momentum
encoder's positive instead). The augmentation is the public code's
(``augment="reference"``: small rotation, resize and a fixed-scale crop, its
colour jitter; see :func:`vssl.methods.common.make_augment`), or MoCo v2's
(``"mocov2"``). No Shuffle BN in the public code (commented out): off by
default (``shuffle_bn``). Every choice with its source is in ``docs/fidelity.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from vssl.data.requires import Requires
from vssl.methods.common import (
    Augment,
    StepOut,
    check_shuffle_bn,
    float_clips,
    intra_video_contrast,
    no_autocast,
    norm,
    setup_momentum_method,
)
from vssl.ops.dsm import local_disturbance, temporal_shuffle
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """DSM hyperparameters (RECIPES.md, FingerRec/DSM-decoupling-scene-motion ``src/pt.py``)."""

    temperature: float = 0.07
    momentum: float = 0.999
    queue_size: int = 2048
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2  # "mocov2" augmentation only
    augment: Augment = "reference"  # "reference" (DSM code) | "mocov2"
    warp_view: Literal["query", "key"] = "query"  # which view gets the local warp: "query" (DSM code) | "key"
    negative: Literal["segment", "shuffle"] = "segment"  # another segment (DSM code); shuffle: frames shuffled
    neg_encoder: Literal["online", "momentum"] = "online"  # intra-video negative through: online (with gradient)
    loss: Literal["infonce", "triplet"] = "infonce"  # "infonce" (MoCo setup) | "triplet"
    margin: float = 0.5  # triplet variant
    triplet_distance: Literal["euclidean", "cosine"] = "euclidean"  # DSM's code: nn.TripletMarginLoss(p=2); or "cosine"
    triplet_normalize: bool = True  # L2-normalise before the triplet loss (DSM's models end in Normalize(2))
    triplet_inter: bool = True  # add the inter-video triplet term (DSM's code)
    warps_min: int = 1  # local warps per clip
    warps_max: int = 3
    shuffle_bn: bool = False  # DSM's code has it commented out
    bn_splits: int = 2

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, queue_size=16)

    def __post_init__(self):
        check_choices(self, "dsm")
        check_shuffle_bn("dsm", self)


class DSM(nn.Module):
    """DSM: query = locally disturbed clip, key = the clip, extra negative = other segment."""

    Config = Config
    RECIPE = {"optim": {"lr": 0.003, "weight_decay": 1e-4}}
    # demo preset (vssl.train.presets): key-encoder momentum 0.99, not 0.999 (after n steps the key encoder
    # has followed the query encoder by 1 - m^n: 0.999 leaves it at 33 % after 400 steps, 0.99 at 98 %), and a
    # queue of 64, not 2 048: smaller than the training set, or it holds older clips of the query's own video
    PRESETS: dict = {"demo": {"momentum": 0.99, "queue_size": 64, "crop": 56}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        setup_momentum_method(self, backbone, feat_dim, cfg, queue=cfg.loss == "infonce")

    @property
    def requires(self) -> Requires:
        return Requires(views=1, neg_clip=self.cfg.negative == "segment")

    def _warp(self, x: torch.Tensor) -> torch.Tensor:
        return local_disturbance(x, n_warps=(self.cfg.warps_min, self.cfg.warps_max))

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]
        with no_autocast(clips.device):
            x = float_clips(clips[:, 0])
            anchor, _, _ = self.augment(x)
            pos, _, _ = self.augment(x)
            if self.cfg.warp_view == "query":
                anchor = self._warp(anchor)
            else:
                pos = self._warp(pos)
            if self.cfg.negative == "segment":
                negative, _, _ = self.augment(float_clips(batch["neg"]))
            else:
                negative = temporal_shuffle(self.augment(x)[0])
            anchor, pos, negative = norm(anchor), norm(pos), norm(negative)
        return intra_video_contrast(self.enc, anchor, pos, negative, self.cfg)

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.enc.update()
