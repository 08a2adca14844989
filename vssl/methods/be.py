"""BE: Background Erasing, remove the background by adding the background.

Wang et al. 2021, "Removing the Background by Adding the Background: Towards
Background Robust Self-supervised Video Representation Learning"
(https://arxiv.org/abs/2009.05769). RECIPES.md, BE:

* one lambda ~ U[0, 0.3] per batch and a random frame k of the same clip; every
  frame ``x_j <- (1 - lambda) * x_j + lambda * x_k`` (the distracting clip);
* the distracted clip is the positive of the original; an extra intra-video
  negative comes from another segment of the same video (shifted when it falls
  within 2 frames of the positive);
* the MoCo setup (m = 0.999, queue, tau 0.07, lr 0.003, weight decay 1e-4), the
  intra-video negative embedded by the query encoder with gradient (as the
  public code; ``neg_encoder="momentum"``: momentum encoder, no gradient), or the
  triplet variant with margin 0.5 (``loss="triplet"``: L2-normalised embeddings,
  intra- plus inter-video term, as ``train_be_triplet``).

Pairs: the query is the distracted clip 1; its positive key (momentum encoder)
is another augmentation of the same segment, undistracted (``key_view=
"same_clip"``, the public code's ``get_be_items``), or clip 2 of the same
video (``"other_clip"``, MoCo's positive). The static frame is a random frame
of the query clip (``--static-frames online``) or one of the frames stored by
``vssl precompute be`` (``cache``); it is appended to the clip as one more
frame before augmentation, so it gets exactly the clip's crop, flip and colour
changes. The augmentation is the public code's (``augment="reference"``, the
same as DSM's) or MoCo v2's (``"mocov2"``). No Shuffle BN in the public code
(commented out): off by default. Sources in ``docs/fidelity.md``.
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
    float_images,
    intra_video_contrast,
    no_autocast,
    norm,
    setup_momentum_method,
)
from vssl.ops.be import be_mix, random_static_frame, sample_be_lambda
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """BE hyperparameters (RECIPES.md, FingerRec/BE ``src/Contrastive/pt.py``)."""

    temperature: float = 0.07
    momentum: float = 0.999
    queue_size: int = 2048
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2  # "mocov2" augmentation only
    augment: Augment = "reference"  # "reference" (BE code, as DSM's) | "mocov2"
    lambda_max: float = 0.3  # lambda ~ U[0, 0.3], one per batch
    key_view: Literal["same_clip", "other_clip"] = "same_clip"  # "same_clip" (BE code) | "other_clip"
    neg_encoder: Literal["online", "momentum"] = "online"  # intra-video negative through: online (with gradient)
    loss: Literal["infonce", "triplet"] = "infonce"
    margin: float = 0.5
    triplet_distance: Literal["euclidean", "cosine"] = "euclidean"  # BE's code: nn.TripletMarginLoss(p=2); or "cosine"
    triplet_normalize: bool = True  # L2-normalise before the triplet loss (BE's models end in Normalize(2))
    triplet_inter: bool = True  # add the inter-video triplet term (BE's code)
    shuffle_bn: bool = False  # BE's code has it commented out
    bn_splits: int = 2

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, queue_size=16)

    def __post_init__(self):
        check_choices(self, "be")
        check_shuffle_bn("be", self)
        if not 0.0 <= self.lambda_max <= 1.0:
            raise ValueError(f"be lambda_max must be in [0, 1], got {self.lambda_max}")


class BE(nn.Module):
    """BE: query = distracted clip, key = the same segment undistracted, extra negative = other segment."""

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
        return Requires(views=2 if self.cfg.key_view == "other_clip" else 1, neg_clip=True, static=True)

    def _distracted(self, x: torch.Tensor, static: torch.Tensor | None) -> torch.Tensor:
        if static is None:
            static = random_static_frame(x)  # (B, 3, H, W), a frame of the same clip
        x_s = torch.cat([x, static[:, :, None]], dim=2)  # the static frame rides along as frame T
        x_s, _, _ = self.augment(x_s)
        lam = sample_be_lambda(high=self.cfg.lambda_max)
        return be_mix(x_s[:, :, :-1], x_s[:, :, -1], lam)

    def training_step(self, batch: dict) -> StepOut:
        clips, neg = batch["clips"], batch["neg"]
        static = batch.get("static")
        with no_autocast(clips.device):
            x1 = float_clips(clips[:, 0])
            q_in = self._distracted(x1, float_images(static) if static is not None else None)
            k_src = float_clips(clips[:, 1]) if self.cfg.key_view == "other_clip" else x1
            k_in, _, _ = self.augment(k_src)
            n_in, _, _ = self.augment(float_clips(neg))
            q_in, k_in, n_in = norm(q_in), norm(k_in), norm(n_in)
        return intra_video_contrast(self.enc, q_in, k_in, n_in, self.cfg)

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.enc.update()
