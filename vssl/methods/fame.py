"""FAME: foreground-background merging.

Ding et al., "Motion-aware Contrastive Video Representation Learning via
Foreground-background Merging", CVPR 2022 (https://arxiv.org/abs/2109.15130).
RECIPES.md, FAME:

* applied to the query clip only; the key is another clip of the same video;
  the loss is symmetrised: the second direction swaps query and key, so the
  merged clip is the *key* of clip 2 (``swap_directions``, as ``forward`` of the
  public ``moco/builder.py``);
* the foreground mask of a clip is computed after crop and flip and before any
  colour change (:func:`vssl.ops.fame.fame_mask`, top ``beta = 0.5``
  of the pixels); the colour jitter, grey and blur are then drawn once for the
  merged clip (``mask_before_colour``, the public ``train.py``:
  ``aug_gpu(FA(video[0]))``);
* merge: permute the batch, ``out = mask * clip + (1 - mask) * clip_of_other_video``;
* MoCo setup with tau 0.1, SGD lr 0.01, weight decay 1e-4, cosine, Shuffle BN
  (``shuffle_bn``; see :class:`vssl.methods.common.MomentumPair`).

Masks: ``--fame-masks online`` computes them on the cropped and flipped batch on
the device (as the reference code); ``cache`` crops and flips the soft score map
of ``vssl precompute fame`` with its clip and keeps the top ``beta`` fraction
(RECIPES: "store soft score maps per clip window and crop them with the clip,
threshold at beta at training time"). Every departure: ``docs/fidelity.md``.
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
from vssl.ops.fame import ColourSpace, fame_merge, threshold_top_fraction
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """FAME hyperparameters (RECIPES.md)."""

    temperature: float = 0.1
    momentum: float = 0.999
    queue_size: int = 2048
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2
    beta: float = 0.5  # fraction of pixels kept as foreground
    symmetric: bool = True
    swap_directions: bool = True  # 2nd direction: query clip 2, key the merged clip (FAME code); False: merge clip 2 too
    mask_before_colour: bool = True  # mask and merge on the cropped clip, colour after (FAME code)
    colour_space: ColourSpace = "wheel"  # fame_mask colour bins: "wheel" (reference), "wheel_buggy", "hsv"
    shuffle_bn: bool = True  # FAME code: _batch_shuffle_ddp
    bn_splits: int = 2

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, queue_size=16)

    def __post_init__(self):
        check_choices(self, "fame")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"fame beta must be in [0, 1], got {self.beta}")
        check_shuffle_bn("fame", self)


class FAME(nn.Module):
    """FAME: query = foreground of clip i on the background of another video; key = clip j of video i."""

    Config = Config
    RECIPE = {"optim": {"lr": 0.01, "weight_decay": 1e-4}}
    # demo preset (vssl.train.presets): key-encoder momentum 0.99, not 0.999 (after n steps the key encoder
    # has followed the query encoder by 1 - m^n: 0.999 leaves it at 33 % after 400 steps, 0.99 at 98 %), and a
    # queue of 64, not 2 048: smaller than the training set, or it holds older clips of the query's own video
    PRESETS: dict = {"demo": {"momentum": 0.99, "queue_size": 64, "crop": 56}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        setup_momentum_method(self, backbone, feat_dim, cfg)

    @property
    def requires(self) -> Requires:
        return Requires(views=2, fame=True)

    def _mask(self, x: torch.Tensor, score: torch.Tensor | None) -> torch.Tensor:
        if score is not None:  # cached soft score map, cropped with the clip
            return threshold_top_fraction(score, self.cfg.beta)
        from vssl.ops.fame import fame_mask

        return fame_mask(x, beta=self.cfg.beta, colour_space=self.cfg.colour_space)

    def _geometric(self, clips: torch.Tensor, scores: torch.Tensor | None, v: int):
        extras = {"score": scores[:, v, None].float().div_(255.0)} if scores is not None else None
        x, ex, _, _ = self.augment.geometric(float_clips(clips[:, v]), extras)
        return x, ex.get("score")

    def _colour(self, x: torch.Tensor) -> torch.Tensor:
        return self.augment.colour(x)[0]

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]
        scores = batch.get("fame_score")  # uint8 (B, V, H, W) with --fame-masks cache
        cfg = self.cfg
        with no_autocast(clips.device):
            g1, s1 = self._geometric(clips, scores, 0)
            g2, s2 = self._geometric(clips, scores, 1)
            if cfg.mask_before_colour:  # FAME code: colour(merge(crop(clip)))
                m1 = self._mask(g1, s1)
                q1, k2 = self._colour(fame_merge(g1, m1)), self._colour(g2)
            else:  # merge(colour(crop(clip))): the background keeps the other clip's colours
                x1, x2 = self._colour(g1), self._colour(g2)
                m1 = self._mask(x1, s1)
                q1, k2 = fame_merge(x1, m1), x2
            if cfg.symmetric and cfg.swap_directions:
                q2, k1 = k2, q1
            elif cfg.symmetric and cfg.mask_before_colour:
                q2, k1 = self._colour(fame_merge(g2, self._mask(g2, s2))), self._colour(g1)
            elif cfg.symmetric:
                q2, k1 = fame_merge(x2, self._mask(x2, s2)), x1
            q1, k2 = norm(q1), norm(k2)
            if cfg.symmetric:
                q2, k1 = norm(q2), norm(k1)
        loss, acc = momentum_contrast(self.enc, q1, k2, cfg.temperature)
        logs = {"acc": acc, "fg_fraction": m1.mean()}
        if cfg.symmetric:
            loss2, acc2 = momentum_contrast(self.enc, q2, k1, cfg.temperature)
            loss = (loss + loss2) / 2
            logs["acc"] = (acc + acc2) / 2
        return StepOut(loss, logs)

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.enc.update()
