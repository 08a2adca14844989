"""LSFD: long-short view feature decomposition (Behrmann, Fayyaz, Gall, Noroozi, ICCV 2021;
RECIPES.md "Methods II (a)").

No public code was found; the values marked unverified in docs/fidelity.md are vssl's guesses.
A long view of each video and several short views (its sub-sequences) go through one backbone
and one head whose output ``xi`` is split into a *stationary* part ``psi`` and a
*non-stationary* part ``phi``:

* ``L_stat``: each short view's ``psi`` has the long view's ``psi`` as its positive (InfoNCE,
  the other videos' long views as negatives);
* ``L_nonstat``: the short views' ``phi``, aggregated in temporal order (``aggregate``: linear,
  MLP or GRU), has the long view's ``phi`` as its positive;
* ``L_inst``: instance discrimination of ``xi`` between two long views of the video at
  different times (vssl's reading of "an instance term"; ``inst_weight=0`` turns it off).

Sampling through the data layer: views of ``clip_len * long_factor`` frames
(``requires.clip_factor``); the long view is every ``long_factor``-th frame of view 0 (the
same number of frames as every clip), the ``short_views`` short views are ``clip_len``
consecutive frames of view 0 at evenly spaced starts (tiling it when ``short_views =
long_factor``), the second long view for ``L_inst`` is view 1 subsampled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.losses import info_nce, nt_xent
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
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """LSFD hyperparameters; unverified values are marked in docs/fidelity.md."""

    long_factor: int = 2  # the long view spans clip_len * long_factor frames, subsampled to clip_len (unverified)
    short_views: int = 2  # short views per long view (unverified)
    dim: int = 128  # size of psi and of phi (xi = 2 * dim) (unverified)
    aggregate: Literal["linear", "mlp", "gru"] = "linear"  # how the short views' phi combine (seed notes: all three)
    temperature: float = 0.1  # (unverified)
    stat_weight: float = 1.0  # (unverified)
    nonstat_weight: float = 1.0  # (unverified)
    inst_weight: float = 1.0  # (unverified; 0 = no instance term, one view loaded)
    crop: int = 112
    min_scale: float = 0.2
    augment: Augment = "mocov2"

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, dim=8)

    def __post_init__(self):
        if not isinstance(self.long_factor, int) or self.long_factor < 2:
            raise ValueError(f"lsfd long_factor must be an integer >= 2, got {self.long_factor!r}")
        check_dims("lsfd", short_views=self.short_views, dim=self.dim)
        check_choices(self, "lsfd")
        if not self.temperature > 0:
            raise ValueError(f"lsfd temperature must be > 0, got {self.temperature}")
        ws = (self.stat_weight, self.nonstat_weight, self.inst_weight)
        if min(ws) < 0 or sum(ws) == 0:
            raise ValueError(f"lsfd stat_weight, nonstat_weight, inst_weight must be >= 0, not all 0, got {ws}")
        if self.crop < 8 or not 0.0 < self.min_scale <= 1.0:
            raise ValueError(f"lsfd crop must be >= 8 and min_scale in (0, 1], got {self.crop}, {self.min_scale}")


def short_starts(clip_len: int, long_len: int, n: int) -> list[int]:
    """``n`` evenly spaced starts of ``clip_len``-frame windows in ``long_len`` frames (first at 0, last at the end)."""
    last = long_len - clip_len
    return [0] * n if n == 1 else [round(i * last / (n - 1)) for i in range(n)]


class Aggregate(nn.Module):
    """The short views' ``phi`` ``(B, K, D)`` in temporal order -> one ``(B, D)``."""

    def __init__(self, kind: str, k: int, d: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "linear":
            self.net = nn.Linear(k * d, d)
        elif kind == "mlp":
            self.net = MLPHead(k * d, k * d, d)
        else:
            self.net = nn.GRU(d, d, batch_first=True)

    def forward(self, phi: Tensor) -> Tensor:
        if self.kind == "gru":
            return self.net(phi)[1][-1]
        return self.net(phi.flatten(1))


class LSFD(nn.Module):
    """Backbone + one head split into stationary and non-stationary parts + the aggregator."""

    Config = Config
    RECIPE: dict = {}  # optimiser and schedule unverified: the toolkit's shared contrastive setup
    # demo preset (vssl.train.presets): heads scaled to the tiny backbone's 64 features, lr 0.05 (not tuned;
    # the paper's optimiser is unverified)
    PRESETS: dict = {"demo": {"crop": 56, "dim": 32, "_optim.lr": 0.05}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.head = MLPHead(feat_dim, feat_dim, 2 * cfg.dim)
        self.aggregate = Aggregate(cfg.aggregate, cfg.short_views, cfg.dim)
        self.augment = make_augment(cfg.crop, cfg.min_scale, cfg.augment)

    @property
    def requires(self) -> Requires:
        return Requires(views=2 if self.cfg.inst_weight > 0 else 1, clip_factor=self.cfg.long_factor)

    def cut(self, clips: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """uint8 ``(B, V, f * T, H, W, 3)`` -> the long views (every ``f``-th frame of each view) and
        the short views (``T`` consecutive frames of view 0 at :func:`short_starts`), each ``(B, T, H, W, 3)``."""
        f = self.cfg.long_factor
        n = clips.shape[2]
        t = n // f
        longs = [clips[:, v, ::f][:, :t] for v in range(clips.shape[1])]
        shorts = [clips[:, 0, s : s + t] for s in short_starts(t, n, self.cfg.short_views)]
        return longs, shorts

    def training_step(self, batch: dict) -> StepOut:
        cfg = self.cfg
        longs, shorts = self.cut(batch["clips"])
        b, k = longs[0].shape[0], len(shorts)
        with no_autocast(longs[0].device):
            x = norm(self.augment(float_clips(torch.cat(longs + shorts)))[0])
        xi = self.head(self.backbone(x)).float()
        d = cfg.dim
        xi_long, xi_short = xi[: b * len(longs)], xi[b * len(longs):].view(k, b, 2 * d)
        psi_l, phi_l = xi_long[:b, :d], xi_long[:b, d:]
        stat = sum(info_nce(xi_short[i, :, :d], psi_l, temperature=cfg.temperature) for i in range(k)) / k
        phi_agg = self.aggregate(xi_short[:, :, d:].transpose(0, 1))  # (B, K, D) in temporal order
        nonstat = info_nce(phi_agg, phi_l, temperature=cfg.temperature)
        loss = cfg.stat_weight * stat + cfg.nonstat_weight * nonstat
        logs = {"stat": stat.detach(), "nonstat": nonstat.detach()}
        if cfg.inst_weight > 0:
            inst = nt_xent(xi_long[:b], xi_long[b : 2 * b], temperature=cfg.temperature)
            loss = loss + cfg.inst_weight * inst
            logs["inst"] = inst.detach()
        return StepOut(loss, logs)

    forward = training_step
