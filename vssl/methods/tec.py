"""TEC: time-equivariant contrastive learning (Jenni & Jin, ICCV 2021, RECIPES.md "Methods II (a)").

No public code was found; the values marked unverified in docs/fidelity.md are vssl's guesses.
Two clips are cut from one long clip of each video, each with its own temporal transformation:
a speed (1x or 2x, 2x covering twice the time), a direction (forward or reversed) and a start
(the shift between the two clips). The pair's *relative* transformation (speeds, directions and
the start of the second clip relative to the first) is the contrastive label:

* equivariance: a head maps the two clip features to a transformation vector; vectors of pairs
  with the same relative transformation (always from different videos: one pair per video) are
  positives, every other pair's vector a negative (:func:`vssl.losses.multi_positive_info_nce`).
  Each drawn relative transformation is given to two videos of the batch, so every pair has a
  positive;
* auxiliary 3-way classification of the pair: overlapping / ordered (the first clip's frames end
  before the second's start) / unordered.

Sampling through the data layer: one view of ``clip_len * span_factor`` frames per video
(``requires.clip_factor``), cut on the batch (:mod:`vssl.ops.temporal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.losses import multi_positive_info_nce
from vssl.methods.common import (
    Augment,
    StepOut,
    float_clips,
    make_augment,
    no_autocast,
    norm,
)
from vssl.methods.siamese import check_dims
from vssl.models import MLPHead
from vssl.ops.temporal import frame_indices, take_frames
from vssl.utils.typed import check_choices

PAIR_CLASSES = ("overlapping", "ordered", "unordered")


@dataclass(frozen=True)
class Config:
    """TEC hyperparameters; unverified values are marked in docs/fidelity.md."""

    span_factor: int = 4  # the long clip the pair is cut from: clip_len * span_factor frames (unverified)
    max_speed: int = 2  # speeds 1..max_speed (the paper: 1x and 2x)
    reverse: bool = True  # directions forward and reversed (the paper: both)
    shift_step: int = 0  # clip starts on a grid of this many frames; 0 = clip_len // 2 (unverified)
    trans_dim: int = 128  # transformation vector size (unverified)
    hidden_dim: int = 512  # head hidden width (unverified)
    temperature: float = 0.1  # (unverified)
    cls_weight: float = 1.0  # weight of the 3-way pair classification (unverified)
    crop: int = 112
    min_scale: float = 0.2
    augment: Augment = "mocov2"

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, trans_dim=16, hidden_dim=32)

    def __post_init__(self):
        check_choices(self, "tec")
        for name in ("span_factor", "max_speed"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"tec {name} must be an integer >= 1, got {v!r}")
        if self.span_factor < self.max_speed:
            raise ValueError(f"tec span_factor ({self.span_factor}) must be >= max_speed ({self.max_speed}): "
                             "the long clip must hold the fastest clip")
        if not isinstance(self.shift_step, int) or self.shift_step < 0:
            raise ValueError(f"tec shift_step must be an integer >= 0 (0 = clip_len // 2), got {self.shift_step!r}")
        check_dims("tec", trans_dim=self.trans_dim, hidden_dim=self.hidden_dim)
        if not self.temperature > 0 or self.cls_weight < 0:
            raise ValueError(f"tec temperature must be > 0 and cls_weight >= 0, got {self.temperature}, {self.cls_weight}")
        if self.crop < 8 or not 0.0 < self.min_scale <= 1.0:
            raise ValueError(f"tec crop must be >= 8 and min_scale in (0, 1], got {self.crop}, {self.min_scale}")


def pair_class(start_a: Tensor, span_a: Tensor, start_b: Tensor, span_b: Tensor) -> Tensor:
    """0 = the frame ranges ``[start, start + span)`` overlap, 1 = a ends before b starts (ordered),
    2 = b ends before a starts (unordered). int64 ``(B,)``."""
    ordered = start_a + span_a <= start_b
    unordered = start_b + span_b <= start_a
    return torch.where(ordered, 1, torch.where(unordered, 2, 0)).long()


class TEC(nn.Module):
    """Backbone, transformation head and pair classifier on concatenated clip features."""

    Config = Config
    RECIPE: dict = {}  # optimiser and schedule unverified: the toolkit's shared contrastive setup
    # demo preset (vssl.train.presets): heads scaled to the tiny backbone's 64 features, lr 0.05 (not tuned;
    # the paper's optimiser is unverified)
    PRESETS: dict = {"demo": {"crop": 56, "hidden_dim": 128, "trans_dim": 64, "_optim.lr": 0.05}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.trans_head = MLPHead(2 * feat_dim, cfg.hidden_dim, cfg.trans_dim)
        self.pair_head = MLPHead(2 * feat_dim, cfg.hidden_dim, len(PAIR_CLASSES))
        self.augment = make_augment(cfg.crop, cfg.min_scale, cfg.augment)
        self._table: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    @property
    def requires(self) -> Requires:
        return Requires(views=1, clip_factor=self.cfg.span_factor)

    def transformations(self, clip_len: int, long_len: int) -> tuple[Tensor, Tensor]:
        """Every valid pair transformation of ``clip_len``-frame clips in a ``long_len``-frame clip.

        Returns ``(table, key)``: int64 ``(M, 6)`` rows ``(speed_a, rev_a, start_a, speed_b, rev_b,
        start_b)`` and ``(M,)`` the id of each row's relative transformation ``(speed_a, rev_a,
        speed_b, rev_b, start_b - start_a)``."""
        if (clip_len, long_len) not in self._table:
            step = self.cfg.shift_step or max(1, clip_len // 2)
            dirs = (0, 1) if self.cfg.reverse else (0,)
            clips = [(s, r, p) for s in range(1, self.cfg.max_speed + 1) for r in dirs
                     for p in range(0, long_len - s * (clip_len - 1), step)]
            rows = [a + b for a in clips for b in clips]
            rel = [(r[0], r[1], r[3], r[4], r[5] - r[2]) for r in rows]
            ids = {k: i for i, k in enumerate(sorted(set(rel)))}
            self._table[(clip_len, long_len)] = (torch.tensor(rows), torch.tensor([ids[k] for k in rel]))
        return self._table[(clip_len, long_len)]

    def draw(self, b: int, clip_len: int, long_len: int) -> tuple[Tensor, Tensor]:
        """Per video a pair transformation ``(B, 6)`` and its relative id ``(B,)``: ``ceil(B / 2)``
        relative transformations drawn uniformly, each given to two videos (random absolute starts
        among those with that relative transformation), in a random order (global torch generator)."""
        table, key = self.transformations(clip_len, long_len)
        n_keys = int(key.max()) + 1
        rel = torch.randint(n_keys, ((b + 1) // 2,)).repeat_interleave(2)[:b]
        rel = rel[torch.randperm(b)]
        rows = []
        for k in rel.tolist():
            cand = torch.nonzero(key == k).flatten()
            rows.append(cand[torch.randint(len(cand), (1,))])
        idx = torch.cat(rows)
        return table[idx], key[idx]

    def cut(self, long: Tensor, tr: Tensor, clip_len: int) -> tuple[Tensor, Tensor]:
        """The two clips ``(B, T, H, W, 3)`` of each long clip ``(B, L, H, W, 3)`` under ``tr`` ``(B, 6)``."""
        tr = tr.to(long.device)
        ta = frame_indices(tr[:, 2], tr[:, 0], clip_len, tr[:, 1].bool())
        tb = frame_indices(tr[:, 5], tr[:, 3], clip_len, tr[:, 4].bool())
        return take_frames(long, ta), take_frames(long, tb)

    def training_step(self, batch: dict) -> StepOut:
        long = batch["clips"][:, 0]  # (B, L, H, W, 3)
        b, length = long.shape[:2]
        t = length // self.cfg.span_factor
        tr, rel = self.draw(b, t, length)
        xa, xb = self.cut(long, tr, t)
        with no_autocast(long.device):
            x = norm(self.augment(float_clips(torch.cat([xa, xb])))[0])
        h = self.backbone(x).float()
        pair = torch.cat([h[:b], h[b:]], dim=1)  # (B, 2F)
        rel = rel.to(h.device)
        equi, has_pos = multi_positive_info_nce(self.trans_head(pair).float(), rel, temperature=self.cfg.temperature)
        tr = tr.to(h.device)
        label = pair_class(tr[:, 2], tr[:, 0] * (t - 1) + 1, tr[:, 5], tr[:, 3] * (t - 1) + 1)
        logits = self.pair_head(pair).float()
        cls = F.cross_entropy(logits, label)
        loss = equi + self.cfg.cls_weight * cls
        acc = (logits.detach().argmax(1) == label).float().mean()
        return StepOut(loss, {"equi": equi.detach(), "cls": cls.detach(), "cls_acc": acc,
                              "with_positive": has_pos.float().mean()})

    forward = training_step
