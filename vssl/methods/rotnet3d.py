"""3DRotNet: rotation prediction on clips (Jing, Yang, Liu, Tian, arXiv 1811.11387).

Every frame of a clip is rotated by the same 0, 90, 180 or 270 degrees and a 4-way classifier on
the pooled backbone features predicts which (RECIPES.md, "Methods II (b)"). No public code of the
authors was found; the defaults follow the paper's setting as RECIPES.md gives it (R3D-18, 16 x 112
clips) and a public re-implementation (an mmaction-style ``Rot3D``: one random rotation per clip,
the label its index). ``rotations="all"`` feeds all four rotations of every clip instead (the image
RotNet of Gidaris et al.). The crop, the colour (none) and the optimiser are vssl's choices,
listed as unverified in docs/fidelity.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import nn

from vssl.data.requires import Requires
from vssl.methods.common import (
    StepOut,
    float_clips,
    no_autocast,
    top1,
)
from vssl.methods.pretext import (
    Normalize,
    check_pretext,
    crop_augment,
    input_scale,
    rotation_views,
)


@dataclass(frozen=True)
class Config:
    """3DRotNet hyperparameters (the paper's task; the rest unverified)."""

    rotations: Literal["random", "all"] = "random"  # random: one rotation per clip | all: the 4 rotations of every clip
    crop: int = 112  # square: a rotated frame keeps its shape
    flip: bool = True  # horizontal flip p 0.5 before the rotation (unverified)
    dropout: float = 0.0  # before the classifier (unverified)
    normalize: Normalize = "kinetics"  # no reference code: vssl's standard input

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24)

    def __post_init__(self):
        check_pretext("rotnet3d", self)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"rotnet3d dropout must be in [0, 1), got {self.dropout}")


class RotNet3D(nn.Module):
    """Rotation prediction: a 4-way linear classifier of the clip's rotation."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 32,
                        "epochs": 100}}
    PRESETS: dict = {"demo": {"crop": 56}}  # demo preset (vssl.train.presets): at the demo's lr 0.03

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(feat_dim, 4)
        self.augment = crop_augment(cfg.crop, flip=cfg.flip)

    @property
    def requires(self) -> Requires:
        return Requires(views=1)

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"][:, 0]  # (B, T, H, W, 3)
        with no_autocast(clips.device):
            x, _, _ = self.augment(float_clips(clips))
            x, label = rotation_views(x, self.cfg.rotations)
            x = input_scale(x, self.cfg.normalize)
        logits = self.classifier(self.dropout(self.backbone(x))).float()
        return StepOut(F.cross_entropy(logits, label), {"acc": top1(logits, label)})

    forward = training_step
