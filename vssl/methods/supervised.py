"""Supervised control: the backbone trained with the labels (cross-entropy), not a
self-supervised method.

It exists to calibrate the self-supervised numbers on a labelled cache
(``vssl bench science``): with ``input="rgb"`` it shows how far the labels go
with whatever cue is easiest (the scene, on a scene-biased train split); with
``input="diff"`` the network only ever sees differences of consecutive frames,
a motion-only input, and gives the ceiling of what motion alone can tell on the
data. ``vssl eval`` reads ``input`` from the run's config and feeds the same
input at evaluation time.

Recipe (ours, no paper): one clip per video and step, random resized crop
(scale (``min_scale``, 1)) and horizontal flip, identical over the clip's
frames, no colour augmentation; a linear classifier on the pooled features;
SGD as the other methods. Needs a labelled split (``data.subset`` train).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from vssl.data.requires import Requires
from vssl.data.transforms import ClipAugment
from vssl.methods.common import StepOut, float_clips, no_autocast, norm, top1
from vssl.ops.frames import Input, frame_differences
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """Supervised-control hyperparameters."""

    input: Input = "rgb"  # rgb | diff (differences of consecutive frames: motion only)
    num_classes: int = 0  # 0 = from the cache (the loop passes it); > 0 fixes it
    crop: int = 112
    min_scale: float = 0.5
    flip: bool = True
    label_smoothing: float = 0.0

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24)

    def __post_init__(self):
        check_choices(self, "supervised")
        if self.num_classes < 0:
            raise ValueError(f"supervised num_classes must be >= 0, got {self.num_classes}")
        if not 0.0 < self.min_scale <= 1.0:
            raise ValueError(f"supervised min_scale must be in (0, 1], got {self.min_scale}")


class Supervised(nn.Module):
    """Cross-entropy on the labels of a labelled cache (a control, see the module docstring)."""

    Config = Config
    RECIPE = {"optim": {"lr": 0.01, "weight_decay": 5e-4}}
    # demo preset (vssl.train.presets): the control of `vssl bench science` at lr 0.05 (weight decay 5e-4 above)
    PRESETS: dict = {"demo": {"crop": 56, "_optim.lr": 0.05}}
    needs_labels = True
    DEFAULT_CLASSES = 101  # only when neither the config nor the cache says (never in a real run)

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config(), num_classes: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        n = cfg.num_classes or num_classes or self.DEFAULT_CLASSES
        self.classifier = nn.Linear(feat_dim, n)
        self.augment = ClipAugment(cfg.crop, scale=(cfg.min_scale, 1.0), flip_p=0.5 if cfg.flip else 0.0,
                                   jitter_p=0.0, gray_p=0.0, blur_p=0.0)

    @property
    def requires(self) -> Requires:
        return Requires(views=1)

    def training_step(self, batch: dict) -> StepOut:
        clips, labels = batch["clips"], batch["label"].long()
        if bool((labels < 0).any()) or bool((labels >= self.classifier.out_features).any()):
            raise ValueError("supervised needs labels in [0, num_classes) for every clip (a labelled train split)")
        with no_autocast(clips.device):
            x, _, _ = self.augment(float_clips(clips[:, 0]))
            x = norm(x)
            if self.cfg.input == "diff":
                x = frame_differences(x)
        logits = self.classifier(self.backbone(x)).float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.cfg.label_smoothing)
        return StepOut(loss, {"acc": top1(logits, labels)})

    forward = training_step
