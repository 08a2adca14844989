"""MCN: meta-contrastive network (Lin, Guo, Lu, ICCV 2021; RECIPES.md "Methods II (a)").

No public code was found; the values marked unverified in docs/fidelity.md are vssl's guesses.
The paper combines a contrastive branch with a MAML meta branch against the "hard-positive
problem" of instance discrimination. vssl's reading (the split of the batch and the meta task
are unverified):

* contrastive branch: NT-Xent between two clips of each video (in-batch negatives);
* meta branch (MAML, one inner step): the batch's videos are split into a support half and a
  query half; the inner loss on the support half (NT-Xent + a binary "same video?"
  classification of clip pairs) takes one gradient step of size ``inner_lr`` on the encoder's
  parameters, ``theta' = theta - inner_lr * grad``; the outer loss is the same loss on the query
  half computed with ``theta'`` (``torch.func.functional_call``), back-propagated to ``theta``
  *through* the inner step (second-order, ``meta_order="second"``, MAML) or with the inner
  gradient treated as a constant (``"first"``, the first-order approximation FOMAML: a
  documented departure).

The whole meta step lives in ``training_step``: the loop's single ``loss.backward()`` gives the
exact MAML gradient because the inner gradient is built with ``create_graph=True``; no loop
extension is needed (DDP with an inner ``autograd.grad`` is untested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from vssl.data.requires import Requires
from vssl.losses import nt_xent
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
    """MCN hyperparameters; unverified values are marked in docs/fidelity.md."""

    proj_dim: int = 128  # (unverified)
    temperature: float = 0.1  # NT-Xent of both branches (unverified)
    inner_lr: float = 0.01  # MAML inner step size (unverified)
    meta_order: Literal["second", "first"] = "second"  # MAML (the paper: "based on MAML"); first: first-order
    meta_params: Literal["all", "heads"] = "all"  # adapted in the inner step: all (MAML); heads (cheaper, departure)
    meta_weight: float = 1.0  # weight of the outer (meta) loss (unverified)
    bin_hidden: int = 128  # hidden width of the "same video?" pair classifier (unverified)
    crop: int = 112
    min_scale: float = 0.2
    augment: Augment = "mocov2"

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, proj_dim=16, bin_hidden=8, meta_params='heads')

    def __post_init__(self):
        check_dims("mcn", proj_dim=self.proj_dim, bin_hidden=self.bin_hidden)
        check_choices(self, "mcn")
        if not self.temperature > 0 or not self.inner_lr > 0 or self.meta_weight < 0:
            raise ValueError(f"mcn temperature and inner_lr must be > 0 and meta_weight >= 0, got "
                             f"{self.temperature}, {self.inner_lr}, {self.meta_weight}")
        if self.crop < 8 or not 0.0 < self.min_scale <= 1.0:
            raise ValueError(f"mcn crop must be >= 8 and min_scale in (0, 1], got {self.crop}, {self.min_scale}")


class Encoder(nn.Module):
    """Backbone + projection head + pair classifier: the parameters the inner step adapts."""

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = MLPHead(feat_dim, feat_dim, cfg.proj_dim)
        self.bin_head = MLPHead(2 * cfg.proj_dim, cfg.bin_hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x)).float()

    def pair_logits(self, a: Tensor, b: Tensor) -> Tensor:
        return self.bin_head(torch.cat([F.normalize(a, dim=1), F.normalize(b, dim=1)], dim=1)).float().squeeze(1)


def binary_pairs(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Balanced "same video?" pairs of ``n`` videos' two clips ``(n, D)``: ``(z1[i], z2[i])`` (label 1)
    and ``(z1[i], z2[(i + 1) % n])`` (label 0). Returns ``(a, b, label)`` of ``2n`` pairs."""
    n = z1.shape[0]
    a = torch.cat([z1, z1])
    b = torch.cat([z2, z2.roll(-1, dims=0)])
    label = torch.cat([torch.ones(n), torch.zeros(n)]).to(z1.device)
    return a, b, label


class MCN(nn.Module):
    """Contrastive branch + MAML meta branch over one encoder."""

    Config = Config
    RECIPE: dict = {}  # optimiser and schedule unverified: the toolkit's shared contrastive setup
    # demo preset (vssl.train.presets): heads scaled to the tiny backbone's 64 features, lr 0.05 (not tuned;
    # the paper's optimiser is unverified)
    PRESETS: dict = {"demo": {"crop": 56, "proj_dim": 64, "_optim.lr": 0.05}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(backbone, feat_dim, cfg)
        self.backbone = self.encoder.backbone
        self.augment = make_augment(cfg.crop, cfg.min_scale, cfg.augment)

    @property
    def requires(self) -> Requires:
        return Requires(views=2)

    def _task_loss(self, z1: Tensor, z2: Tensor, params: dict | None) -> Tensor:
        """NT-Xent + the binary pair loss of one set of videos (with ``params`` when given)."""
        a, b, label = binary_pairs(z1, z2)
        logits = self.encoder.pair_logits(a, b) if params is None else self._pair_logits_with(params, a, b)
        return nt_xent(z1, z2, temperature=self.cfg.temperature) + F.binary_cross_entropy_with_logits(logits, label)

    def _pair_logits_with(self, params: dict, a: Tensor, b: Tensor) -> Tensor:
        sub = {k[len("bin_head."):]: v for k, v in params.items() if k.startswith("bin_head.")}
        x = torch.cat([F.normalize(a, dim=1), F.normalize(b, dim=1)], dim=1)
        return functional_call(self.encoder.bin_head, sub, (x,)).float().squeeze(1)

    def adapted_params(self) -> list[tuple[str, Tensor]]:
        """The encoder parameters the inner step adapts (``meta_params``)."""
        keep = (lambda n: True) if self.cfg.meta_params == "all" else (lambda n: not n.startswith("backbone."))
        return [(n, p) for n, p in self.encoder.named_parameters() if p.requires_grad and keep(n)]

    def inner_step(self, loss: Tensor) -> dict[str, Tensor]:
        """``theta' = theta - inner_lr * d loss / d theta`` for :meth:`adapted_params`; the gradient keeps
        its graph for ``meta_order="second"`` (MAML), and is a constant for ``"first"``."""
        named = self.adapted_params()
        grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=self.cfg.meta_order == "second",
                                    retain_graph=True, allow_unused=True)  # the graph also serves the outer loss
        return {n: p if g is None else p - self.cfg.inner_lr * g for (n, p), g in zip(named, grads)}

    def training_step(self, batch: dict) -> StepOut:
        cfg = self.cfg
        clips = batch["clips"]
        b = clips.shape[0]
        with no_autocast(clips.device):
            x = norm(self.augment(float_clips(torch.cat([clips[:, 0], clips[:, 1]])))[0])
        z = self.encoder(x)
        z1, z2 = z[:b], z[b:]
        con = nt_xent(z1, z2, temperature=cfg.temperature)
        logs = {"con": con.detach()}
        half = b // 2
        if half < 2 or cfg.meta_weight == 0:  # too few videos for a support and a query set
            logs["meta"] = torch.zeros((), device=z.device)
            return StepOut(con, logs)
        support = self._task_loss(z1[:half], z2[:half], None)
        fast = self.inner_step(support)
        xq = torch.cat([x[half:b], x[b + half:]])
        zq = functional_call(self.encoder, fast, (xq,), strict=False).float()
        nq = b - half
        meta = self._task_loss(zq[:nq], zq[nq:], fast)
        logs.update(support=support.detach(), meta=meta.detach())
        return StepOut(con + cfg.meta_weight * meta, logs)

    forward = training_step
