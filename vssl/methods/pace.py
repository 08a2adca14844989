"""Pace prediction (Wang, Jiao, Liu, ECCV 2020, https://arxiv.org/abs/2008.05861).

Reference code laura-wang/video-pace (RECIPES.md, "Methods II (b)"): each clip is sampled at a
rate ``s`` drawn uniformly from 1..``max_sr`` (4), i.e. every ``s``-th frame, from a start drawn
uniformly over the *whole* video; past the last frame it continues at frame 0 (``loop_load_rgb``).
The label is ``s - 1``; a linear classifier on the pooled backbone features; cross-entropy.
Augmentation (``train.py``): ``ClipResize((128, 171))``, one random 112 crop and one horizontal
flip (p 0.5) per clip, then ``ColorJitter(0.8, 0.8, 0.8, 0.2)`` with p 0.8 drawn **for each frame
on its own**; no mean / std. SGD momentum 0.9, wd 5e-3, 18 epochs of the train list repeated 10
times, StepLR x0.1 every 6 (vssl: 180 passes, ``optim.schedule="step"`` with the lr x0.1 at 1/3 and
2/3 of the steps, no warm-up); lr 1e-3 at batch 30 (the README's commands for C3D / R3D / R(2+1)D;
the code's default is 0.01).

The paper adds a contrastive term that the public code does not have: ``contrastive="context"``
takes two clips of each video (each at its own pace) as positives of each other and the batch's
other clips as negatives (NT-Xent on a projection), weighted by ``contrastive_weight``; the
projection, temperature and weight are vssl's guesses (unverified), the "same pace" variant is
not implemented.

The rates come from the data layer (``requires``: ``speeds`` = 1..max_sr, ``wrap``); the frames of
a clip at rate ``s`` are every ``data.stride * s``-th frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import nn

from vssl.data.requires import Requires
from vssl.data.transforms import ClipAugment
from vssl.losses import nt_xent
from vssl.methods.common import (
    StepOut,
    float_clips,
    no_autocast,
    top1,
)
from vssl.methods.pretext import Normalize, check_pretext, crop_augment, input_scale
from vssl.models import MLPHead


@dataclass(frozen=True)
class Config:
    """Pace-prediction hyperparameters (reference code defaults; the contrastive term: vssl's guesses)."""

    max_sr: int = 4  # sample rates 1..max_sr, one class each
    wrap: bool = True  # start anywhere, continue at frame 0 past the end (reference); false: start where it fits
    crop: int = 112
    flip: bool = True  # RandomHorizontalFlip(0.5), one draw per clip
    jitter: Literal["frame", "clip", "none"] = "frame"  # frame: ColorJitter(0.8, 0.8, 0.8, 0.2) p 0.8 per frame (reference)
    normalize: Normalize = "none"  # none (no mean / std, reference) | kinetics
    contrastive: Literal["none", "context"] = "none"  # none: public code; context: two clips of a video are positives (paper)
    contrastive_weight: float = 0.1  # unverified
    temperature: float = 0.5  # unverified
    proj_dim: int = 128  # unverified

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=16)

    def __post_init__(self):
        check_pretext("pace", self)
        if not isinstance(self.max_sr, int) or self.max_sr < 2:
            raise ValueError(f"pace max_sr must be an integer >= 2 (one class per rate), got {self.max_sr!r}")
        if not self.temperature > 0 or self.contrastive_weight < 0 or self.proj_dim < 1:
            raise ValueError(f"pace needs temperature > 0, contrastive_weight >= 0 and proj_dim >= 1, got "
                             f"{self.temperature}, {self.contrastive_weight}, {self.proj_dim}")


class Pace(nn.Module):
    """Pace prediction: a linear classifier of the sample rate on the pooled backbone features."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-3, "batch_size": 30,
                        "epochs": 180, "schedule": "step", "milestones": (1 / 3, 2 / 3), "gamma": 0.1}}
    # demo preset (vssl.train.presets): 10x the reference's lr (0.01, not tuned), keeping the recipe's step
    # schedule: the milestones are fractions of the run, so the lr drops x0.1 at steps 100 and 200 of 300, after
    # the demo's 20 warm-up steps
    PRESETS: dict = {"demo": {"crop": 56, "_optim.lr": 0.01}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.classifier = nn.Linear(feat_dim, cfg.max_sr)
        self.projector = MLPHead(feat_dim, feat_dim, cfg.proj_dim) if cfg.contrastive != "none" else None
        jitter = dict(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, jitter_p=0.8) if cfg.jitter == "clip" else {}
        self.augment = crop_augment(cfg.crop, flip=cfg.flip, **jitter)
        self.frame_jitter = (ClipAugment(cfg.crop, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, jitter_p=0.8,
                                         gray_p=0.0, blur_p=0.0) if cfg.jitter == "frame" else None)

    @property
    def requires(self) -> Requires:
        views = 2 if self.cfg.contrastive != "none" else 1
        return Requires(views=views, speeds=tuple(range(1, self.cfg.max_sr + 1)), wrap=self.cfg.wrap)

    def _inputs(self, clips):
        """uint8 ``(N, T, H, W, 3)`` -> augmented network inputs ``(N, 3, T, crop, crop)``."""
        x, _, _ = self.augment(float_clips(clips))
        if self.frame_jitter is not None:  # one jitter draw per frame: the frames as a batch of images
            n, c, t, h, w = x.shape
            frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
            frames = self.frame_jitter.colour(frames)[0]
            x = frames.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4)
        return input_scale(x, self.cfg.normalize)

    def training_step(self, batch: dict) -> StepOut:
        clips, speed = batch["clips"], batch["speed"]  # (B, V, T, H, W, 3), (B, V) rates in 1..max_sr
        b, v = clips.shape[:2]
        label = (speed - 1).long().flatten()  # sample-major, as the clips below: (B * V,)
        with no_autocast(clips.device):
            x = self._inputs(clips.flatten(0, 1))
        h = self.backbone(x)
        logits = self.classifier(h).float()
        loss = F.cross_entropy(logits, label)
        logs = {"acc": top1(logits, label)}
        if self.projector is not None:
            z = self.projector(h).float().unflatten(0, (b, v))
            ctr = nt_xent(z[:, 0], z[:, 1], temperature=self.cfg.temperature)
            logs["pace_loss"], logs["contrastive_loss"] = loss.detach(), ctr.detach()
            loss = loss + self.cfg.contrastive_weight * ctr
        return StepOut(loss, logs)

    forward = training_step
