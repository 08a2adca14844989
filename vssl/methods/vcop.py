"""VCOP: video clip order prediction (Xu et al., CVPR 2019, https://arxiv.org/abs/1906.01213).

Reference code xudejing/video-clip-order-prediction (RECIPES.md, "Methods II (b)"): a tuple of
``clips`` = 3 clips of 16 frames with ``gap`` = 8 frames between them (64 frames in all, start
uniform where the tuple fits, shorter videos left out of the training list) is shuffled, and the
network predicts which of the 3! = 6 orders it was shuffled by. Each clip gets its own random crop
(one box per clip, shared by its frames) of the 128 x 171 frames, no flip, no colour operation,
``ToTensor`` only (no mean / std: ``normalize="none"``). Every clip goes through the shared
backbone on its own (per-position batch-norm statistics, as ``VCOPN.forward``); the features of
each pair ``i < j`` are concatenated, ``fc7`` (2 x feat -> 512, shared by the pairs) + ReLU, the
pairs concatenated, dropout 0.5, ``fc8`` to 6 logits; cross-entropy. SGD lr 1e-3, momentum 0.9,
wd 5e-4, batch 8, 300 epochs at a **constant** lr (the reference builds a ReduceLROnPlateau but
never steps it): ``constant_lr`` keeps every parameter at the peak lr.

The tuple comes from the data layer (``requires``: ``views`` = clips, ``view_gap`` = gap); the
shuffle is drawn here, on the batch, with the global torch generator the loop seeds per step.
The reference's networks are C3D and 10-layer ResNets (``--backbone c3d`` / ``r3d_10``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vssl.data.requires import Requires
from vssl.methods.common import StepOut, float_clips, no_autocast, top1
from vssl.methods.pretext import (
    Normalize,
    check_pretext,
    crop_augment,
    input_scale,
    permutations,
    shuffle_items,
)


@dataclass(frozen=True)
class Config:
    """VCOP hyperparameters (reference code defaults, RECIPES.md)."""

    clips: int = 3  # tuple_len: clips per tuple, 3! = 6 orders
    gap: int = 8  # interval: frames between one clip's end and the next one's start
    hidden_dim: int = 512  # fc7, applied to each pair of clip features
    dropout: float = 0.5  # before fc8
    crop: int = 112  # RandomCrop(112) of the 128 x 171 frames, one box per clip
    normalize: Normalize = "none"  # none (ToTensor only, reference) | kinetics
    constant_lr: bool = True  # reference: the scheduler is never stepped; false = the loop's cosine

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, gap=1, hidden_dim=16)

    def __post_init__(self):
        check_pretext("vcop", self)
        if not isinstance(self.clips, int) or not 2 <= self.clips <= 5:
            raise ValueError(f"vcop clips must be an integer in 2..5 (5! = 120 orders), got {self.clips!r}")
        if not isinstance(self.gap, int) or self.gap < 0:
            raise ValueError(f"vcop gap must be an integer >= 0 frames, got {self.gap!r}")
        if not isinstance(self.hidden_dim, int) or self.hidden_dim < 1:
            raise ValueError(f"vcop hidden_dim must be an integer >= 1, got {self.hidden_dim!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"vcop dropout must be in [0, 1), got {self.dropout}")


class VCOP(nn.Module):
    """Clip order prediction: the backbone on each clip of a shuffled tuple, a pairwise head, 6-way CE."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 8,
                        "epochs": 300}}
    # demo preset (vssl.train.presets): the reference clip geometry scaled to 8-frame clips (gap 4 for 8 of 16
    # frames, a 32-frame tuple), 10x the reference's lr (0.01, still constant; not tuned)
    PRESETS: dict = {"demo": {"crop": 56, "gap": 4, "_optim.lr": 0.01}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.pairs = [(i, j) for i in range(cfg.clips) for j in range(i + 1, cfg.clips)]
        self.fc7 = nn.Linear(2 * feat_dim, cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.register_buffer("orders", permutations(cfg.clips), persistent=False)
        self.fc8 = nn.Linear(cfg.hidden_dim * len(self.pairs), self.orders.shape[0])
        self.augment = crop_augment(cfg.crop)

    @property
    def requires(self) -> Requires:
        return Requires(views=self.cfg.clips, view_gap=self.cfg.gap)

    def fixed_lr(self, name: str) -> bool:
        """Every parameter keeps the peak lr when ``constant_lr`` (the reference never steps its scheduler)."""
        return self.cfg.constant_lr

    def logits(self, x):
        """Order logits ``(B, n!)`` of shuffled tuples ``x`` ``(B, N, 3, T, H, W)`` (network inputs)."""
        f = [self.backbone(x[:, i]) for i in range(x.shape[1])]
        h = torch.cat([F.relu(self.fc7(torch.cat([f[i], f[j]], dim=1))) for i, j in self.pairs], dim=1)
        return self.fc8(self.dropout(h)).float()

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]  # (B, N, T, H, W, 3) uint8, in temporal order
        b, n = clips.shape[:2]
        if n != self.cfg.clips:
            raise ValueError(f"vcop expects tuples of {self.cfg.clips} clips, got {n}")
        with no_autocast(clips.device):
            shuffled, label = shuffle_items(clips, self.orders)
            x, _, _ = self.augment(float_clips(shuffled.flatten(0, 1)))  # one crop per clip
            x = input_scale(x, self.cfg.normalize).unflatten(0, (b, n))
        logits = self.logits(x)
        return StepOut(F.cross_entropy(logits, label), {"acc": top1(logits, label)})

    forward = training_step
