"""What the Siamese methods share (SimSiam, BYOL, Barlow Twins, VICReg, DirectCLR): rho clips
per video, their augmentation, MLP heads, pairings of the views and the collapse monitor.

rho clips (``clips``, >= 2): the clips of one video at different start times are
positives of one another (Feichtenhofer et al., CVPR 2021, "A Large-Scale Study on
Unsupervised Spatiotemporal Representation Learning", https://arxiv.org/abs/2104.14558,
sec. 3.2). Each method averages its two-view loss over the pairs of clips
(:func:`ordered_pairs` for the asymmetric losses, :func:`unordered_pairs` for the
symmetric ones); with ``clips=2`` that is exactly the paper's symmetrised loss.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Literal, Sequence, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.data.transforms import ClipAugment
from vssl.methods.common import float_clips, make_augment, no_autocast, norm
from vssl.utils.typed import check_choices

ViewAugmentStyle = Literal["mocov2", "byol"]
"""The styles of :class:`ViewAugment` (the Siamese Configs' ``augment`` field)."""
VIEW_AUGMENTS = get_args(ViewAugmentStyle)


def check_siamese(method: str, cfg) -> None:
    """One-line ValueErrors for the fields the Siamese configs share (``clips``, ``crop``,
    ``min_scale``) and every ``Literal`` field of ``cfg`` (``augment``, ...)."""
    check_choices(cfg, method)
    if not isinstance(cfg.clips, int) or cfg.clips < 2:
        raise ValueError(f"{method} clips must be an integer >= 2 (clips of one video used as positives), "
                         f"got {cfg.clips!r}")
    if cfg.crop < 8:
        raise ValueError(f"{method} crop must be >= 8, got {cfg.crop}")
    if not 0.0 < cfg.min_scale <= 1.0:
        raise ValueError(f"{method} min_scale must be in (0, 1], got {cfg.min_scale}")


def check_dims(method: str, **dims: int) -> None:
    """One-line ValueError naming the first of ``dims`` below 1."""
    for name, v in dims.items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{method} {name} must be an integer >= 1, got {v!r}")


def solarize(x: Tensor, p: float) -> Tensor:
    """Solarise each clip of ``x`` ``(B, 3, ...)`` in [0, 1] with probability ``p``: values
    >= 0.5 become ``1 - x`` (PIL's ``ImageOps.solarize`` at threshold 128)."""
    if p <= 0:
        return x
    on = (torch.rand(x.shape[0], device=x.device) < p).view(-1, *([1] * (x.dim() - 1)))
    return torch.where(on & (x >= 0.5), 1.0 - x, x)


class ViewAugment(nn.Module):
    """Augment the ``V`` clips of each video, one set of parameters per clip, identical over
    its frames; returns ``V`` normalised network inputs.

    ``style="mocov2"``: the toolkit's shared MoCo v2 augmentation for every clip
    (:func:`vssl.methods.common.make_augment`; SimSiam's own, and the video study's
    set up to the colour strength). ``"byol"``: the asymmetric BYOL set that Barlow
    Twins, VICReg and DirectCLR inherit (their ``Transform``): crop, flip, colour
    jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grey p 0.2, then Gaussian blur p 1.0 and no
    solarisation on the even clips, blur p 0.1 and solarisation p 0.2 on the odd ones.
    """

    def __init__(self, crop: int, min_scale: float, style: str) -> None:
        super().__init__()
        if style == "mocov2":
            self.augs = nn.ModuleList([make_augment(crop, min_scale)])
            self.solarize_p = (0.0,)
        elif style == "byol":
            kw = dict(scale=(min_scale, 1.0), brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1,
                      jitter_p=0.8, gray_p=0.2)
            self.augs = nn.ModuleList([ClipAugment(crop, blur_p=1.0, **kw), ClipAugment(crop, blur_p=0.1, **kw)])
            self.solarize_p = (0.0, 0.2)
        else:
            raise ValueError(f"augment must be one of {', '.join(VIEW_AUGMENTS)}, got {style!r}")

    def forward(self, clips: Tensor) -> list[Tensor]:
        """uint8 ``(B, V, T, H, W, 3)`` -> ``V`` float ``(B, 3, T, crop, crop)``, normalised."""
        out = []
        with no_autocast(clips.device):
            for v in range(clips.shape[1]):
                k = v % len(self.augs)
                x, _, _ = self.augs[k](float_clips(clips[:, v]))
                out.append(norm(solarize(x, self.solarize_p[k])))
        return out


def mlp(sizes: Sequence[int], *, hidden_bias: bool, last_bias: bool, last_norm: str = "none") -> nn.Sequential:
    """``Linear -> BatchNorm1d -> ReLU`` for each hidden size, then ``Linear`` (+ norm).

    Args:
        sizes: ``[in, hidden..., out]`` (at least two).
        hidden_bias: bias in the hidden linear layers (VICReg: yes; Barlow Twins, SimSiam: no).
        last_bias: bias in the last linear layer.
        last_norm: ``"none"``, ``"bn"`` or ``"bn_plain"`` (BatchNorm1d without affine
            parameters, SimSiam's projector) after the last layer.
    """
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp sizes must be >= 2 positive integers, got {list(sizes)}")
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b, bias=hidden_bias), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(sizes[-2], sizes[-1], bias=last_bias))
    if last_norm == "bn":
        layers.append(nn.BatchNorm1d(sizes[-1]))
    elif last_norm == "bn_plain":
        layers.append(nn.BatchNorm1d(sizes[-1], affine=False))
    elif last_norm != "none":
        raise ValueError(f"last_norm must be none, bn or bn_plain, got {last_norm!r}")
    return nn.Sequential(*layers)


def ordered_pairs(n: int) -> list[tuple[int, int]]:
    """``(i, j)``, ``i != j``: clip ``i`` predicts clip ``j`` (asymmetric losses)."""
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def unordered_pairs(n: int) -> list[tuple[int, int]]:
    """``(i, j)``, ``i < j`` (symmetric losses)."""
    return list(combinations(range(n), 2))


@torch.no_grad()
def collapse_stats(z: Tensor, prefix: str) -> dict[str, Tensor]:
    """The collapse monitor of one batch of embeddings ``z`` ``(B, D)`` (detached 0-d tensors).

    * ``{prefix}_std``: the per-dimension standard deviation over the batch of the
      L2-normalised embeddings, averaged over the dimensions and multiplied by
      ``sqrt(D)``: about 1 for embeddings spread over the sphere, 0 at complete collapse
      (SimSiam, Chen & He 2021, sec. 4.1 plots it against ``1 / sqrt(D)``);
    * ``{prefix}_rank``: the effective rank (Roy & Vetterli 2007) of the centred
      embeddings, ``exp(entropy of the normalised singular values)``, between 1 and
      ``min(B - 1, D)``: dimensional collapse (Jing et al., ICLR 2022, DirectCLR) shows as
      a rank far below that bound while the std stays up.

    A batch of one sample gives no statistics (an empty dict).
    """
    z = z.detach().float()
    b, d = z.shape
    if b < 2:
        return {}
    std = F.normalize(z, dim=1).std(dim=0).mean() * math.sqrt(d)
    zc = (z - z.mean(dim=0)).double()  # float64: round-off in a float32 Gram matrix adds a tail of tiny values
    eig = torch.linalg.eigvalsh(zc @ zc.t() if b <= d else zc.t() @ zc)  # squared singular values
    s = eig.clamp_min(0).sqrt()
    q = s / s.sum().clamp_min(1e-300)  # all zero (complete collapse): entropy 0, rank 1
    rank = torch.exp(-(q * torch.log(q.clamp_min(1e-300))).sum()).float()
    return {f"{prefix}_std": std, f"{prefix}_rank": rank}


class ClipsEncoder(nn.Module):
    """Base of the methods that pass ``cfg.clips`` views of each video through one backbone
    (and an optional projector) with :class:`ViewAugment`: Barlow Twins, VICReg, DirectCLR."""


    def _setup(self, backbone: nn.Module, cfg, projector: nn.Module | None = None) -> None:
        self.cfg = cfg
        self.backbone = backbone
        if projector is not None:
            self.projector = projector
        self.augment = ViewAugment(cfg.crop, cfg.min_scale, cfg.augment)

    @property
    def requires(self) -> Requires:
        return Requires(views=self.cfg.clips)

    def encode_clips(self, batch: dict) -> tuple[list[Tensor], list[Tensor]]:
        """Backbone features ``hs`` and projections ``zs`` (float32) of the augmented clips."""

        xs = self.augment(batch["clips"])
        hs = [self.backbone(x) for x in xs]
        return hs, [self.projector(h).float() for h in hs]
