"""Pieces the classic video pretext tasks share (VCOP, Pace, 3DRotNet, space-time cubic puzzles):
a classification label made from the clip itself, the reference codes' crop, their input scaling.

No base class: each method file builds its heads and its ``training_step`` from these.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
from torch import Tensor

from vssl.data.dataset import KINETICS_MEAN, KINETICS_STD
from vssl.data.transforms import ClipAugment, normalize
from vssl.utils.typed import check_choices

Normalize = Literal["none", "kinetics"]
"""Input scaling of a pretext method: ``"none"`` feeds the [0, 1] clip (``ToTensor`` of the VCOP
and Pace references, no mean / std); ``"kinetics"`` the torchvision video statistics (vssl's other
methods). ``vssl eval`` reads ``<method>.normalize`` from the run's config and feeds the same."""


def check_pretext(method: str, cfg) -> None:
    """One-line ValueErrors for the fields the pretext Configs share (crop) and every ``Literal``
    field of ``cfg`` (``normalize``, ...)."""
    check_choices(cfg, method)
    if not isinstance(cfg.crop, int) or cfg.crop < 1:
        raise ValueError(f"{method} crop must be an integer >= 1, got {cfg.crop!r}")


def input_scale(x: Tensor, how: str) -> Tensor:
    """The network input of float [0, 1] clips ``(B, 3, T, H, W)``: as they are, or Kinetics-normalised."""
    return x if how == "none" else normalize(x, KINETICS_MEAN, KINETICS_STD)


def crop_augment(crop: int, *, flip: bool = False, **kw) -> ClipAugment:
    """``Resize((128, 171))`` then ``RandomCrop(crop)``, one box per clip, identical over its frames
    (the VCOP / Pace references): the load size is already 128 x 171, so this is a random crop of a
    frame whose short side is scaled to ``round(crop * 128 / 112)`` (128 for 112 crops); optional
    horizontal flip p=0.5; no colour operation unless ``kw`` asks for one."""
    opts = dict(crop_mode="fixed", resize_short=max(crop, round(crop * 128 / 112)), flip_p=0.5 if flip else 0.0,
                jitter_p=0.0, gray_p=0.0, blur_p=0.0)
    return ClipAugment(crop, **{**opts, **kw})


def permutations(n: int) -> Tensor:
    """All orders of ``n`` items, ``(n!, n)`` int64, in ``itertools.permutations`` order.

    Label ``k`` means: position ``i`` of the shuffled sequence holds item ``perm[k, i]`` of the
    original one (the VCOP reference's ``order_class_index``: the index of the shuffled
    ``tuple_order`` in this list).
    """
    return torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long)


def shuffle_items(x: Tensor, perms: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Shuffle the items (dim 1) of every sample by an order drawn uniformly from ``perms``.

    Args:
        x: ``(B, N, ...)``.
        perms: ``(K, N)`` from :func:`permutations` (or a subset of it).

    Returns:
        ``(x_shuffled, label)``: ``x_shuffled[b, i] = x[b, perms[label[b], i]]``; label ``(B,)`` int64.
    """
    b = x.shape[0]
    label = torch.randint(0, perms.shape[0], (b,), generator=generator, device=generator.device if generator else "cpu")
    label = label.to(x.device)
    order = perms.to(x.device)[label]  # (B, N)
    idx = order.view(b, -1, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return torch.gather(x, 1, idx), label


def rotation_views(x: Tensor, rotations: str = "random") -> tuple[Tensor, Tensor]:
    """3DRotNet's task on clips ``x`` ``(B, C, T, S, S)``: the rotated clips and their labels (k = k x 90
    degrees counter-clockwise, :func:`rotate_clips`).

    ``"random"``: one rotation per clip, uniform (a ``torch.randint`` of the global generator), ``(B, ...)``;
    ``"all"``: the four rotations of every clip, clip-major, ``(4 B, ...)`` with labels ``0, 1, 2, 3, 0, ...``.
    """
    b = x.shape[0]
    if rotations == "all":
        x = x.repeat_interleave(4, dim=0)
        label = torch.arange(4, device=x.device).repeat(b)
    else:
        label = torch.randint(0, 4, (b,)).to(x.device)
    return rotate_clips(x, label), label


def n_orders(n: int) -> int:
    return math.factorial(n)


def rotate_clips(x: Tensor, k: Tensor) -> Tensor:
    """Rotate every frame of clip ``b`` by ``k[b] * 90`` degrees counter-clockwise (``torch.rot90``
    on the last two dims, as seen with row 0 at the top).

    Args:
        x: ``(B, C, T, S, S)``, square frames.
        k: ``(B,)`` integers in 0..3.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square frames, got {tuple(x.shape[-2:])}")
    out = x.clone()
    for r in range(1, 4):
        sel = k == r
        if bool(sel.any()):
            out[sel] = torch.rot90(x[sel], r, dims=(-2, -1))
    return out
