"""CORP: contrast and order representations (Hu et al., ICCV 2021; RECIPES.md "Methods II (a)").

No public code was found; the values marked unverified in docs/fidelity.md are vssl's guesses.
Two variants (``variant``):

* ``"f"`` (CORP_f, default; the published K400 / UCF101 numbers are CORP_f's): two clips of each
  of the ``B`` videos; each clip classifies the other ``2B - 1`` clips x 2 orders, i.e. finds the
  other clip of its video (InfoNCE) and whether it comes before or after it (2-way). The pair
  score is the decoupling attention ``z_i^T U^T V z_j``: its symmetric part scores the contrast,
  its antisymmetric part the order (:func:`vssl.losses.contrast_order`), no extra parameters.
* ``"m"`` (CORP_m): the batch is cut into groups of 2 videos with ``clips`` clips each; every
  ordered pair of the ``2K`` clips of a group is classified 3-way: different videos / same video,
  i before j / same video, i after j, from a multi-head score ``r = [<U_h z_i, V_h z_j>]_h``
  through an MLP; cross-entropy summed over the pairs (averaged here).

Order labels come from the clips' start frames (``batch["t0"]``, the data layer's distinct random
starts of the views).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.losses import contrast_order
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
    """CORP hyperparameters; unverified values are marked in docs/fidelity.md."""

    variant: Literal["f", "m"] = "f"  # f = CORP_f (contrast + order, default) | m = CORP_m (3-way pair classification)
    proj_dim: int = 128  # embedding size (unverified)
    temperature: float = 0.07  # CORP_f (unverified)
    order_weight: float = 1.0  # CORP_f: L = L_NCE + order_weight * L_order (the seed notes' sum)
    clips: int = 2  # clips per video; CORP_f uses 2, CORP_m K (unverified)
    heads: int = 8  # CORP_m: attention heads H (unverified)
    head_dim: int = 32  # CORP_m: size of each U_h z (unverified)
    mlp_hidden: int = 128  # CORP_m: hidden width of the 3-way MLP (unverified)
    gap: int = -1  # CORP_m: -1 = the clips at independent random starts; >= 0 = one tuple of consecutive clips
    #               this many frames apart (the data layer's view_gap: "not too close", spacing unverified)
    crop: int = 112
    min_scale: float = 0.2
    augment: Augment = "mocov2"

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=16, heads=2, head_dim=4, mlp_hidden=8)

    def __post_init__(self):
        check_choices(self, "corp")
        check_dims("corp", proj_dim=self.proj_dim, heads=self.heads, head_dim=self.head_dim, mlp_hidden=self.mlp_hidden)
        if not self.temperature > 0:
            raise ValueError(f"corp temperature must be > 0, got {self.temperature}")
        if self.order_weight < 0:
            raise ValueError(f"corp order_weight must be >= 0, got {self.order_weight}")
        if not isinstance(self.clips, int) or self.clips < 2 or (self.variant == "f" and self.clips != 2):
            raise ValueError(f"corp clips must be 2 for variant f and an integer >= 2 for m, got {self.clips!r}")
        if not isinstance(self.gap, int) or self.gap < -1 or (self.gap >= 0 and self.variant != "m"):
            raise ValueError(f"corp gap must be -1 or (variant m only) a number of frames >= 0, got {self.gap!r}")
        if self.crop < 8 or not 0.0 < self.min_scale <= 1.0:
            raise ValueError(f"corp crop must be >= 8 and min_scale in (0, 1], got {self.crop}, {self.min_scale}")


def corp_m_labels(video: Tensor, time: Tensor) -> Tensor:
    """3-way labels of every ordered pair ``(i, j)``, ``i != j``, of one group's clips:
    0 = different videos, 1 = same video and ``time_i < time_j``, 2 = same video, ``time_i > time_j``,
    -1 = same video and the same start (left out). Returns int64 ``(N, N)`` (diagonal -1)."""
    same = video[:, None] == video[None, :]
    lab = torch.where(time[:, None] < time[None, :], 1, 2)
    lab = torch.where(time[:, None] == time[None, :], -1, lab)
    lab = torch.where(same, lab, torch.zeros_like(lab))
    return lab.fill_diagonal_(-1)


class CORP(nn.Module):
    """Backbone + projection head + decoupling attention (CORP_f) or multi-head pair classifier (CORP_m)."""

    Config = Config
    RECIPE: dict = {}  # optimiser and schedule unverified: the toolkit's shared contrastive setup
    # demo preset (vssl.train.presets): heads scaled to the tiny backbone's 64 features, lr 0.05 (not tuned;
    # the paper's optimiser is unverified)
    PRESETS: dict = {"demo": {"crop": 56, "proj_dim": 64, "_optim.lr": 0.05}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.head = MLPHead(feat_dim, feat_dim, cfg.proj_dim)
        d = cfg.proj_dim
        if cfg.variant == "f":
            # U, V start as the identity: the contrast starts as cosine similarity, the order score at 0 (unverified)
            self.u = nn.Parameter(torch.eye(d))
            self.v = nn.Parameter(torch.eye(d))
        else:
            self.u = nn.Linear(d, cfg.heads * cfg.head_dim, bias=False)
            self.v = nn.Linear(d, cfg.heads * cfg.head_dim, bias=False)
            self.pair_mlp = nn.Sequential(nn.Linear(cfg.heads, cfg.mlp_hidden), nn.ReLU(inplace=True),
                                          nn.Linear(cfg.mlp_hidden, 3))
        self.augment = make_augment(cfg.crop, cfg.min_scale, cfg.augment)

    @property
    def requires(self) -> Requires:
        if self.cfg.gap >= 0:
            return Requires(views=self.cfg.clips, view_gap=self.cfg.gap)
        return Requires(views=self.cfg.clips)

    def pair_matrix(self) -> Tensor:
        """CORP_f's ``W = U^T V`` ``(D, D)``."""
        return self.u.t() @ self.v

    def pair_logits(self, zi: Tensor, zj: Tensor) -> Tensor:
        """CORP_m: 3-way logits of pairs ``(..., D)`` x ``(..., D)`` -> ``(..., 3)``."""
        h, e = self.cfg.heads, self.cfg.head_dim
        r = (self.u(zi).unflatten(-1, (h, e)) * self.v(zj).unflatten(-1, (h, e))).sum(-1)  # (..., H)
        return self.pair_mlp(r)

    def embed(self, clips: Tensor) -> Tensor:
        """uint8 ``(B, V, T, H, W, 3)`` -> L2-normalised embeddings ``(B, V, D)``, one augmentation per clip."""
        b, nv = clips.shape[:2]
        with no_autocast(clips.device):
            x = norm(self.augment(float_clips(clips.flatten(0, 1)))[0])
        z = self.head(self.backbone(x)).float()
        return F.normalize(z, dim=1).view(b, nv, -1)

    def training_step(self, batch: dict) -> StepOut:
        z = self.embed(batch["clips"])  # (B, V, D)
        b, nv, d = z.shape
        t0 = batch["t0"].to(z.device).long()  # (B, V)
        video = torch.arange(b, device=z.device)[:, None].expand(b, nv)
        if self.cfg.variant == "f":
            nce, order, acc = contrast_order(z.reshape(-1, d), self.pair_matrix(), video.reshape(-1), t0.reshape(-1),
                                             temperature=self.cfg.temperature)
            loss = nce + self.cfg.order_weight * order
            return StepOut(loss, {"nce": nce.detach(), "order": order.detach(), "order_acc": acc})
        g = b // 2  # CORP_m: groups of two videos (an odd last video is left out)
        if g == 0:
            raise ValueError("corp variant m needs at least 2 videos per batch")
        zg = z[: 2 * g].reshape(g, 2 * nv, d)
        lab = torch.stack([corp_m_labels(video[2 * k : 2 * k + 2].reshape(-1), t0[2 * k : 2 * k + 2].reshape(-1))
                           for k in range(g)])  # (g, 2K, 2K)
        logits = self.pair_logits(zg[:, :, None, :].expand(-1, -1, 2 * nv, -1), zg[:, None, :, :].expand(-1, 2 * nv, -1, -1))
        ok = lab >= 0
        loss = F.cross_entropy(logits[ok], lab[ok])
        acc = (logits[ok].argmax(-1) == lab[ok]).float().mean().detach()
        return StepOut(loss, {"pair_acc": acc})

    forward = training_step
