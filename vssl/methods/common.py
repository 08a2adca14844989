"""Small pieces the method files share (no base class): step output, input prep, MoCo encoder pair
and the contrastive steps built on it.

A method is an ``nn.Module`` with:

* ``Config``: a frozen dataclass of the method's hyperparameters (defaults from
  the paper recipe, RECIPES.md), and ``RECIPE``: overrides of the data and
  optimiser defaults of :mod:`vssl.train.config` for that paper;
* ``PRESETS``: per preset name (``demo``), the method's short-run values (its Config
  fields, or ``_section.key`` for data / optim / run, ``_backbone``), read by
  :mod:`vssl.train.presets`; a method without an entry gets the preset's common settings;
* ``__init__(backbone, feat_dim, cfg)``;
* ``requires``: a :class:`vssl.data.requires.Requires`, what :class:`vssl.data.dataset.ClipDataset`
  must load (clips per video, their length factor, speeds, negatives, keyframes, motion vectors);
* ``training_step(batch) -> StepOut`` (also its ``forward``, so DDP can wrap it);
* optional ``after_step(step)``: momentum update, queue;
* optional ``set_total_steps(total)``: the loop passes the run's number of optimiser
  steps once, before training (BYOL's cosine EMA schedule);
* optional ``fixed_lr(name) -> bool``: parameters that keep the initial lr while the
  others follow the schedule (SimSiam's predictor, :func:`vssl.train.optim.param_groups`).

The optimiser is the recipe's ``optim.optimizer`` (:mod:`vssl.train.optim`).

The loop moves the batch (uint8 clips, see :mod:`vssl.data.dataset`) to the
device; methods augment on the device with :mod:`vssl.data.transforms`, outside
autocast, with the global torch generator (the loop seeds it per step).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.dataset import KINETICS_MEAN, KINETICS_STD
from vssl.data.transforms import ClipAugment, normalize, to_float_clip
from vssl.losses import info_nce_logits, triplet_margin
from vssl.models import MLPHead, Queue, copy_to_momentum, momentum_update
from vssl.dist import gather_nograd, is_distributed


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


Augment = Literal["mocov2", "reference"]
"""The styles of :func:`make_augment` (a Config's ``augment`` field)."""
AUGMENT_STYLES = get_args(Augment)


def make_augment(crop: int, min_scale: float = 0.2, style: str = "mocov2", **kw) -> ClipAugment:
    """A clip augmentation at ``crop``, not normalised.

    ``style="mocov2"``: the shared MoCo v2 one (RECIPES.md: crop scale (``min_scale``, 1),
    flip, colour jitter (0.4, 0.4, 0.4, 0.1) p=0.8, grey p=0.2, blur p=0.5).
    ``"reference"``: the training transform of the DSM and BE reference code
    (``data/config.py``, ``pt_augmentation_config``): rotation U(-10, 10) degrees,
    short side resized to 128 (scaled with ``crop``: ``round(crop * 128 / 112)``),
    random ``crop`` crop at that scale, colour jitter (0.5, 0.5, 0.25, 0.5) on every
    clip with one op taking effect, no flip, grey or blur (``min_scale`` unused).
    """
    if style == "mocov2":
        return ClipAugment(crop, scale=(min_scale, 1.0), **kw)
    if style == "reference":
        opts = dict(
            crop_mode="fixed",
            resize_short=max(crop, round(crop * 128 / 112)),
            rotation=10.0,
            flip_p=0.0,
            brightness=0.5,
            contrast=0.5,
            saturation=0.25,
            hue=0.5,
            jitter_p=1.0,
            jitter_one_of=True,
            gray_p=0.0,
            blur_p=0.0,
        )
        return ClipAugment(crop, **{**opts, **kw})
    raise ValueError(f"augment style must be one of {AUGMENT_STYLES}, got {style!r}")


def check_shuffle_bn(method: str, cfg) -> None:
    """Validate ``cfg.shuffle_bn`` / ``cfg.bn_splits`` (one-line ValueError)."""
    if not isinstance(cfg.shuffle_bn, bool):
        raise ValueError(f"{method} shuffle_bn must be true or false, got {cfg.shuffle_bn!r}")
    if not isinstance(cfg.bn_splits, int) or cfg.bn_splits < 1:
        raise ValueError(f"{method} bn_splits must be an integer >= 1, got {cfg.bn_splits!r}")


def norm(x: Tensor) -> Tensor:
    """Normalise RGB clips or images with the Kinetics statistics torchvision's video models use."""
    return normalize(x, KINETICS_MEAN, KINETICS_STD)


def no_autocast(device: torch.device):
    """Context without autocast: augmentation runs in fp32 even inside a bf16 step."""
    return torch.autocast(device_type=device.type, enabled=False)


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
        shuffle_bn: Shuffle BN for the keys (MoCo, He et al. 2020, sec. 3.3): the key
            batch is shuffled before the key encoder and unshuffled after it, so the
            batch-norm statistics a key sees come from another group of clips than
            its query's. Under DDP the shuffle is across ranks, as the MoCo / FAME
            code (``_batch_shuffle_ddp``). On one process the split-batch equivalent:
            the shuffled batch goes through the key encoder in ``bn_splits``
            sub-batches (each its own BN group, as one GPU of the reference), while
            the queries are one group. Sub-batches have at least 2 clips: a batch of
            fewer than ``2 * bn_splits`` clips uses fewer splits (one group below 4
            clips, i.e. no Shuffle BN). A key encoder without batch norm skips it
            (nothing to leak).
        bn_splits: number of key sub-batches on one process.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feat_dim: int,
        proj_dim: int,
        queue_size: int,
        momentum: float,
        *,
        shuffle_bn: bool = False,
        bn_splits: int = 2,
    ):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if bn_splits < 1:
            raise ValueError(f"bn_splits must be >= 1, got {bn_splits}")
        self.backbone = backbone
        self.head = MLPHead(feat_dim, feat_dim, proj_dim)
        self.key_backbone = copy_to_momentum(backbone)
        self.key_head = copy_to_momentum(self.head)
        self.queue = Queue(queue_size, proj_dim) if queue_size > 0 else None
        self.momentum = momentum
        self.shuffle_bn, self.bn_splits = shuffle_bn, bn_splits
        self._has_bn: bool | None = None
        self._pending: list[Tensor] = []

    def query(self, x: Tensor) -> Tensor:
        """``(B, D)`` query projections (with gradient)."""
        return self.head(self.backbone(x))

    def _key_forward(self, x: Tensor) -> Tensor:
        return self.key_head(self.key_backbone(x))

    def _key_has_bn(self) -> bool:
        if self._has_bn is None:  # looked up once (a SyncBatchNorm conversion keeps it True)
            mods = [*self.key_backbone.modules(), *self.key_head.modules()]
            self._has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in mods)
        return self._has_bn

    def _shuffled_key_ddp(self, x: Tensor) -> Tensor:
        import torch.distributed as dist

        b = x.shape[0]
        x_all = gather_nograd(x)
        ws, rk = x_all.shape[0] // b, dist.get_rank()
        perm = torch.randperm(x_all.shape[0], device=x.device)
        dist.broadcast(perm, src=0)
        k = self._key_forward(x_all[perm.view(ws, b)[rk]])
        k_all = gather_nograd(k.contiguous())
        return k_all[torch.argsort(perm).view(ws, b)[rk]]

    def _shuffled_key_local(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        splits = min(self.bn_splits, b // 2)
        if splits < 2:
            return self._key_forward(x)
        perm = torch.randperm(b, device=x.device)
        k = torch.cat([self._key_forward(part) for part in x[perm].chunk(splits)])
        out = torch.empty_like(k)
        out[perm] = k
        return out

    @torch.no_grad()
    def key(self, x: Tensor) -> Tensor:
        """``(B, D)`` key projections of the momentum encoder, L2-normalised, no gradient
        (with Shuffle BN when ``shuffle_bn``)."""
        if self.shuffle_bn and self._key_has_bn():
            k = self._shuffled_key_ddp(x) if is_distributed() else self._shuffled_key_local(x)
        else:
            k = self._key_forward(x)
        return F.normalize(k.float(), dim=1)

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
    ``cfg.queue_size`` (0 when not ``queue``: the triplet variants), ``cfg.momentum`` and
    ``cfg.shuffle_bn`` / ``cfg.bn_splits`` (off when the config has none);
    ``method.backbone``, the trained backbone (``enc.backbone``); ``method.augment``,
    :func:`make_augment` at ``cfg.crop``, ``cfg.min_scale`` and ``cfg.augment``
    (``"mocov2"`` when the config has none).
    """
    method.cfg = cfg
    method.enc = MomentumPair(
        backbone,
        feat_dim,
        cfg.proj_dim,
        cfg.queue_size if queue else 0,
        cfg.momentum,
        shuffle_bn=getattr(cfg, "shuffle_bn", False),
        bn_splits=getattr(cfg, "bn_splits", 2),
    )
    method.backbone = method.enc.backbone
    method.augment = make_augment(cfg.crop, cfg.min_scale, getattr(cfg, "augment", "mocov2"))


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

    ``cfg.loss == "triplet"`` (both reference codes' ``train_*_triplet``): the query
    encoder embeds the three in separate passes (L2-normalised when
    ``cfg.triplet_normalize``, as the reference models end in ``Normalize(2)``); the
    loss is the triplet margin loss (``cfg.margin``, ``cfg.triplet_distance``) with the
    intra-video negative, plus, when ``cfg.triplet_inter``, the same loss with the
    negatives of the batch in reverse order (another video's clip, the reference's
    ``flip(feat_n, 0)``; with an odd batch the middle clip keeps its own).
    Otherwise the MoCo setup: InfoNCE (``cfg.temperature``) of the queries against the
    momentum keys of ``k_in``, the queue, and each query's intra-video negative as one
    extra negative; the positive keys are remembered for the queue. The negative is
    embedded by the query encoder *with gradient* when ``cfg.neg_encoder == "online"``
    (both reference codes: ``feat_n, _ = model(negative)``), or by the momentum
    encoder without gradient (``"momentum"``). Logs ``acc`` (InfoNCE) and
    ``neg_wins``: how often the intra-video negative is nearer the query than the
    positive.
    """
    b = q_in.shape[0]
    if cfg.loss == "triplet":
        z_q, z_k, z_n = (enc.query(v).float() for v in (q_in, k_in, n_in))
        kw = dict(margin=cfg.margin, distance=cfg.triplet_distance, normalize=cfg.triplet_normalize)
        loss = triplet_margin(z_q, z_k, z_n, **kw)
        if cfg.triplet_inter:
            loss = loss + triplet_margin(z_q, z_k, z_n.flip(0), **kw)
        with torch.no_grad():
            cos_p = F.cosine_similarity(z_q, z_k, dim=1)
            cos_n = F.cosine_similarity(z_q, z_n, dim=1)
        return StepOut(loss, {"neg_wins": (cos_n > cos_p).float().mean()})
    q = enc.query(q_in).float()
    k = enc.key(k_in)
    if cfg.neg_encoder == "online":
        n = enc.query(n_in).float()
    else:
        n = enc.key(n_in)
    logits, labels = info_nce_logits(q, k, enc.negatives(), temperature=cfg.temperature, extra_negatives=n)
    enc.remember(k)
    hard = (logits[:, -1] > logits[:, 0]).float().mean().detach()
    return StepOut(F.cross_entropy(logits, labels), {"acc": top1(logits, labels), "neg_wins": hard})
