"""ASCNet: appearance-speed consistency (Huang et al., ICCV 2021; RECIPES.md "Methods II (a)").

No public code was found; everything comes from the abstract, the figure caption and the seed
notes (RECIPES.md "Methods II (a)"), and the values marked unverified in docs/fidelity.md are
vssl's guesses. Two clips of each video, one played at 1x and one at ``fast_speed`` x (2x),
go through one backbone and two heads: an appearance head and a speed head. BYOL-style, with
no negatives: an online network with predictors regresses an EMA target network.

* Appearance consistency (ACP): the appearance prediction of each clip regresses the target
  appearance feature of the other speed's clip of the same video (normalised L2).
* Speed consistency (SCP): each clip retrieves, from a memory bank of target features (plus
  the current batch), the clip of *another* video at the *same* speed whose target appearance
  feature is the most similar (top-1, :func:`vssl.losses.same_speed_top1`); its speed
  prediction regresses that clip's target speed feature.

Sampling through the data layer: two views at distinct random starts, each loading
``clip_len * fast_speed`` frames (``requires.clip_factor``); the 1x clip is the first
``clip_len`` frames of view 0, the fast clip every ``fast_speed``-th frame of view 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.dist import gather_nograd
from vssl.losses import normalized_mse, same_speed_top1, speed_consistency
from vssl.methods.common import (
    Augment,
    StepOut,
    float_clips,
    make_augment,
    no_autocast,
    norm,
)
from vssl.methods.siamese import check_dims, collapse_stats
from vssl.models import MLPHead, copy_to_momentum, momentum_update
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """ASCNet hyperparameters; every value but the speeds is unverified (docs/fidelity.md)."""

    fast_speed: int = 2  # the second clip plays at this speed (1x and 2x: abstract, Fig. 2)
    proj_dim: int = 128  # appearance and speed feature size (unverified)
    hidden_dim: int = 2048  # head hidden width (unverified)
    pred_hidden_dim: int = 512  # predictor hidden width (unverified)
    momentum: float = 0.99  # EMA of the target network (unverified)
    bank_size: int = 4096  # memory bank of target features for the SCP retrieval (unverified)
    acp_weight: float = 1.0  # (unverified)
    scp_weight: float = 1.0  # (unverified)
    crop: int = 112
    min_scale: float = 0.2
    augment: Augment = "mocov2"

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=16, hidden_dim=32, pred_hidden_dim=16, bank_size=16)

    def __post_init__(self):
        check_choices(self, "ascnet")
        if not isinstance(self.fast_speed, int) or self.fast_speed < 2:
            raise ValueError(f"ascnet fast_speed must be an integer >= 2, got {self.fast_speed!r}")
        check_dims("ascnet", proj_dim=self.proj_dim, hidden_dim=self.hidden_dim, pred_hidden_dim=self.pred_hidden_dim)
        if not isinstance(self.bank_size, int) or self.bank_size < 0:
            raise ValueError(f"ascnet bank_size must be an integer >= 0 (0 = the batch only), got {self.bank_size!r}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"ascnet momentum must be in [0, 1], got {self.momentum}")
        if self.acp_weight < 0 or self.scp_weight < 0 or self.acp_weight + self.scp_weight == 0:
            raise ValueError(f"ascnet acp_weight and scp_weight must be >= 0, not both 0, got "
                             f"{self.acp_weight}, {self.scp_weight}")
        if self.crop < 8 or not 0.0 < self.min_scale <= 1.0:
            raise ValueError(f"ascnet crop must be >= 8 and min_scale in (0, 1], got {self.crop}, {self.min_scale}")


class SpeedBank(nn.Module):
    """FIFO of target (appearance, speed feature, speed, video) of past clips; speed -1 = empty row."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("app", torch.zeros(size, dim))
        self.register_buffer("feat", torch.zeros(size, dim))
        self.register_buffer("speed", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("video", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("num_enqueued", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, app: Tensor, feat: Tensor, speed: Tensor, video: Tensor) -> None:
        n = app.shape[0]
        if self.size == 0 or n == 0:
            return
        keep = slice(max(0, n - self.size), n)
        first = self.num_enqueued + max(0, n - self.size)
        rows = (first + torch.arange(min(n, self.size), device=self.app.device)) % self.size
        for buf, val in ((self.app, app), (self.feat, feat), (self.speed, speed), (self.video, video)):
            buf.index_copy_(0, rows, val[keep].to(buf))
        self.num_enqueued += n


class ASCNet(nn.Module):
    """Shared backbone, appearance and speed heads with predictors, EMA target, memory bank."""

    Config = Config
    RECIPE: dict = {}  # optimiser and schedule unverified: the toolkit's shared contrastive setup
    # demo preset (vssl.train.presets): heads scaled to the tiny backbone's 64 features, banks below the
    # ~100 training videos' clips, lr 0.05 (not tuned; the paper's optimiser is unverified)
    PRESETS: dict = {"demo": {"crop": 56, "proj_dim": 64, "hidden_dim": 256, "pred_hidden_dim": 64, "bank_size": 128,
                              "_optim.lr": 0.05}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.app_head = MLPHead(feat_dim, cfg.hidden_dim, cfg.proj_dim, batch_norm=True)
        self.speed_head = MLPHead(feat_dim, cfg.hidden_dim, cfg.proj_dim, batch_norm=True)
        self.app_pred = MLPHead(cfg.proj_dim, cfg.pred_hidden_dim, cfg.proj_dim, batch_norm=True)
        self.speed_pred = MLPHead(cfg.proj_dim, cfg.pred_hidden_dim, cfg.proj_dim, batch_norm=True)
        self.target_backbone = copy_to_momentum(backbone)
        self.target_app_head = copy_to_momentum(self.app_head)
        self.target_speed_head = copy_to_momentum(self.speed_head)
        self.bank = SpeedBank(cfg.bank_size, cfg.proj_dim)
        self.augment = make_augment(cfg.crop, cfg.min_scale, cfg.augment)
        self._pending: list[tuple[Tensor, ...]] = []

    @property
    def requires(self) -> Requires:
        return Requires(views=2, clip_factor=self.cfg.fast_speed)

    def speed_clips(self, clips: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 ``(B, 2, f * T, H, W, 3)`` -> the 1x clip (first ``T`` frames of view 0) and the
        ``f`` x clip (every ``f``-th frame of view 1), each uint8 ``(B, T, H, W, 3)``."""
        f = self.cfg.fast_speed
        t = clips.shape[2] // f
        return clips[:, 0, :t], clips[:, 1, ::f][:, :t]

    def _inputs(self, clips: Tensor) -> list[Tensor]:
        with no_autocast(clips.device):
            return [norm(self.augment(float_clips(x))[0]) for x in self.speed_clips(clips)]

    def training_step(self, batch: dict) -> StepOut:
        cfg = self.cfg
        xs = self._inputs(batch["clips"])
        hs = [self.backbone(x) for x in xs]
        apps = [self.app_head(h) for h in hs]
        spds = [self.speed_head(h) for h in hs]
        p_app = [self.app_pred(a).float() for a in apps]
        p_spd = [self.speed_pred(s).float() for s in spds]
        with torch.no_grad():
            ht = [self.target_backbone(x) for x in xs]
            t_app = [self.target_app_head(h).float() for h in ht]
            t_spd = [self.target_speed_head(h).float() for h in ht]
        acp = (normalized_mse(p_app[0], t_app[1]) + normalized_mse(p_app[1], t_app[0])) / 2

        b = xs[0].shape[0]
        video = batch["index"].to(xs[0].device).long()
        speed = torch.cat([torch.ones(b, dtype=torch.long, device=video.device),
                           torch.full((b,), cfg.fast_speed, dtype=torch.long, device=video.device)])
        q_app, q_spd, q_vid = torch.cat(t_app), torch.cat(t_spd), torch.cat([video, video])
        keys = torch.cat([q_app, self.bank.app.float()])
        feats = torch.cat([q_spd, self.bank.feat.float()])
        k_speed, k_vid = torch.cat([speed, self.bank.speed]), torch.cat([q_vid, self.bank.video])
        idx, found = same_speed_top1(q_app, keys, speed, k_speed, q_vid, k_vid)
        scp = speed_consistency(torch.cat(p_spd), feats, idx, found)
        self._pending.append((F.normalize(q_app, dim=1), q_spd, speed, q_vid))
        loss = cfg.acp_weight * acp + cfg.scp_weight * scp
        logs = {"acp": acp.detach(), "scp": scp.detach(), "scp_found": found.float().mean(),
                **collapse_stats(apps[0], "app"), **collapse_stats(spds[0], "speed")}
        return StepOut(loss, logs)

    forward = training_step

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """EMA step of the target network, then the batch's target features enter the bank."""
        m = self.cfg.momentum
        momentum_update(self.backbone, self.target_backbone, m, copy_buffers=False)
        momentum_update(self.app_head, self.target_app_head, m, copy_buffers=False)
        momentum_update(self.speed_head, self.target_speed_head, m, copy_buffers=False)
        for app, feat, speed, vid in self._pending:
            self.bank.enqueue(gather_nograd(app), gather_nograd(feat), gather_nograd(speed), gather_nograd(vid))
        self._pending = []
