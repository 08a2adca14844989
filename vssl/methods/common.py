"""Small pieces the method files share (no base class): step output, input prep, MoCo encoder pair
and the contrastive steps built on it.

A method is an ``nn.Module`` with:

* ``Config``: a frozen dataclass of the method's hyperparameters (defaults from
  the paper recipe, RECIPES.md), and ``RECIPE``: overrides of the data and
  optimiser defaults of :mod:`vssl.train.config` for that paper;
* ``__init__(backbone, feat_dim, cfg)``;
* ``views``: the input modalities, e.g. ``("rgb", "mv")``;
* ``requires``: what :class:`vssl.data.dataset.ClipDataset` must load;
* ``training_step(batch) -> StepOut`` (also its ``forward``, so DDP can wrap it);
* optional ``after_step(step)``: momentum update, queue.

The loop moves the batch (uint8 clips, see :mod:`vssl.data.dataset`) to the
device; methods augment on the device with :mod:`vssl.data.transforms`, outside
autocast, with the global torch generator (the loop seeds it per step).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.dataset import KINETICS_MEAN, KINETICS_STD
from vssl.data.transforms import ClipAugment, normalize, to_float_clip
from vssl.losses import info_nce_logits, triplet_margin
from vssl.models import MLPHead, Queue, copy_to_momentum, momentum_update
from vssl.train.distributed import gather_nograd


class StepOut(NamedTuple):
    """What ``training_step`` returns: the scalar ``loss`` to minimise and detached ``logs``
    (0-d tensors, read by the loop only when it logs, so there is no sync per step)."""

    loss: Tensor
    logs: dict[str, Tensor]


def float_clips(x: Tensor) -> Tensor:
    """uint8 ``(B, T, H, W, 3)`` -> float ``(B, 3, T, H, W)`` in [0, 1]."""
    return to_float_clip(x)


def float_images(x: Tensor) -> Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in [0, 1]."""
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def make_augment(crop: int, min_scale: float = 0.2, **kw) -> ClipAugment:
    """The shared MoCo v2 clip augmentation at ``crop`` (RECIPES.md: crop scale (0.2, 1),
    flip, colour jitter (0.4, 0.4, 0.4, 0.1) p=0.8, grey p=0.2, blur p=0.5), not normalised."""
    return ClipAugment(crop, scale=(min_scale, 1.0), **kw)


def norm(x: Tensor) -> Tensor:
    """Normalise RGB clips or images with the Kinetics statistics torchvision's video models use."""
    return normalize(x, KINETICS_MEAN, KINETICS_STD)


def no_autocast(device: torch.device):
    """Context without autocast: augmentation runs in fp32 even inside a bf16 step."""
    return torch.autocast(device_type=device.type, enabled=False)


def prep(x: Tensor, channels_last: bool) -> Tensor:
    """Network input layout: ``channels_last_3d`` for 5-D clips when asked."""
    if channels_last and x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def top1(logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction of rows whose arg-max is the label (detached 0-d tensor)."""
    return (logits.detach().argmax(1) == labels).float().mean()


class MomentumPair(nn.Module):
    """Query encoder (backbone + MLP head), its EMA key copy, and a queue of keys.

    The MoCo v2 machinery shared by MoCo, BE, DSM and FAME (RECIPES.md: m = 0.999,
    projection 128, MLP head without batch norm). ``backbone`` is trained (and
    exported); ``key_backbone`` / ``key_head`` follow it by EMA in :meth:`update`.

    Args:
        backbone: the video backbone (``feat_dim`` features).
        feat_dim: its feature size (hidden size of the head, as MoCo v2).
        proj_dim: key / query dimension.
        queue_size: number of negatives kept (0 = no queue).
        momentum: EMA coefficient m.
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, proj_dim: int, queue_size: int, momentum: float):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.backbone = backbone
        self.head = MLPHead(feat_dim, feat_dim, proj_dim)
        self.key_backbone = copy_to_momentum(backbone)
        self.key_head = copy_to_momentum(self.head)
        self.queue = Queue(queue_size, proj_dim) if queue_size > 0 else None
        self.momentum = momentum
        self.channels_last = False
        self._pending: list[Tensor] = []

    def query(self, x: Tensor) -> Tensor:
        """``(B, D)`` query projections (with gradient)."""
        return self.head(self.backbone(prep(x, self.channels_last)))

    @torch.no_grad()
    def key(self, x: Tensor) -> Tensor:
        """``(B, D)`` key projections of the momentum encoder, L2-normalised, no gradient."""
        return F.normalize(self.key_head(self.key_backbone(prep(x, self.channels_last))).float(), dim=1)

    def negatives(self) -> Tensor | None:
        return self.queue.negatives if self.queue is not None else None

    def remember(self, k: Tensor) -> None:
        """Keep keys to enqueue after the optimiser step (all accumulation steps, all ranks)."""
        self._pending.append(k.detach())

    @torch.no_grad()
    def update(self) -> None:
        """EMA step of the key encoder, then enqueue the remembered keys (gathered over ranks).

        MoCo updates the key encoder before computing keys; doing it right after the
        optimiser step is the same sequence of states.
        """
        momentum_update(self.backbone, self.key_backbone, self.momentum, copy_buffers=False)
        momentum_update(self.head, self.key_head, self.momentum, copy_buffers=False)
        if self.queue is not None and self._pending:
            self.queue.enqueue(gather_nograd(torch.cat(self._pending)))
        self._pending = []


def setup_momentum_method(method: nn.Module, backbone: nn.Module, feat_dim: int, cfg, queue: bool = True) -> None:
    """The ``__init__`` of the MoCo-family methods (MoCo, BE, DSM, FAME), after ``super().__init__()``.

    Sets ``method.cfg``; ``method.enc``, a :class:`MomentumPair` of ``cfg.proj_dim``,
    ``cfg.queue_size`` (0 when not ``queue``: the triplet variants) and ``cfg.momentum``;
    ``method.backbone``, the trained backbone (``enc.backbone``); ``method.augment``,
    :func:`make_augment` at ``cfg.crop``, ``cfg.min_scale``.
    """
    method.cfg = cfg
    method.enc = MomentumPair(backbone, feat_dim, cfg.proj_dim, cfg.queue_size if queue else 0, cfg.momentum)
    method.backbone = method.enc.backbone
    method.augment = make_augment(cfg.crop, cfg.min_scale)


def momentum_contrast(enc: MomentumPair, x_q: Tensor, x_k: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """One MoCo direction: InfoNCE of the queries of ``x_q`` against the momentum keys of
    ``x_k`` (positives) and the queue; the keys are remembered for the queue.

    Returns:
        the loss and the top-1 accuracy of the positive (detached).
    """
    q = enc.query(x_q).float()
    k = enc.key(x_k)
    logits, labels = info_nce_logits(q, k, enc.negatives(), temperature=temperature)
    enc.remember(k)
    return F.cross_entropy(logits, labels), top1(logits, labels)


def intra_video_contrast(enc: MomentumPair, q_in: Tensor, k_in: Tensor, n_in: Tensor, cfg) -> StepOut:
    """The loss of DSM and BE: query ``q_in``, positive ``k_in``, intra-video negative ``n_in``
    (normalised network inputs of one batch each).

    ``cfg.loss == "triplet"``: triplet margin loss (``cfg.margin``, ``cfg.triplet_distance``)
    on the query encoder's projections of the three, computed as one batch; no logs.
    Otherwise the MoCo setup: InfoNCE (``cfg.temperature``) of the queries against the
    momentum keys of ``k_in`` and ``n_in`` (one key batch), the queue, and each query's
    intra-video negative as one extra negative; the positive keys are remembered for the
    queue. Logs ``acc`` and ``neg_wins``, how often the intra-video negative outscores
    the positive.
    """
    b = q_in.shape[0]
    if cfg.loss == "triplet":
        z = enc.query(torch.cat([q_in, k_in, n_in])).float()
        loss = triplet_margin(z[:b], z[b : 2 * b], z[2 * b :], margin=cfg.margin, distance=cfg.triplet_distance)
        return StepOut(loss, {})
    q = enc.query(q_in).float()
    kn = enc.key(torch.cat([k_in, n_in]))
    k, n = kn[:b], kn[b:]
    logits, labels = info_nce_logits(q, k, enc.negatives(), temperature=cfg.temperature, extra_negatives=n)
    enc.remember(k)
    hard = (logits[:, -1] > logits[:, 0]).float().mean()
    return StepOut(F.cross_entropy(logits, labels), {"acc": top1(logits, labels), "neg_wins": hard})
