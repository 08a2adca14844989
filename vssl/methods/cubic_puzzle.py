"""Space-time cubic puzzles (Kim, Cho, Kweon, AAAI 2019, https://arxiv.org/abs/1811.09795).

A clip is a 2 x 2 x 4 grid of cells (2 x 2 spatial, 4 temporal). A puzzle takes 4 of them, either
the 2 x 2 spatial cells at one time (a *spatial* puzzle) or the 4 temporal cells at one place (a
*temporal* puzzle), permutes them, and the network (a Siamese backbone, one call per piece, late
fusion of the 4 features) predicts the permutation among the 4! = 24 (RECIPES.md, "Methods II (b)").
Against low-level shortcuts each piece is cut at a random offset inside its cell (``jitter``
pixels smaller than the cell), and with ``channel_replication`` one random colour channel of the
clip is copied to the other two (against chromatic aberration). No public code was found: the
puzzle layout follows the paper's description, the sizes, probabilities, the head (concat -> fc
512 + ReLU -> fc) and the optimiser are vssl's choices (unverified, docs/fidelity.md); with
``axis="both"`` the label is (axis, order), 48 classes. The paper's extra rotation loss is not
implemented.

``damage`` (seed notes 001: "Completing Damaged Jigsaw Puzzles", Kim et al. 2018, CDJP) makes the
puzzle harder the CDJP way: ``"drop"`` blanks one of the 4 shuffled pieces (the network orders
the other three around the hole), ``"drop_gray"`` also gives every piece in grey only (CDJP's
decolourised puzzle). CDJP's recovery heads (inpainting the missing piece, colourising) are not
implemented: only the damaged inputs.

The 4 temporal cells are ``clip_len`` frames each: the data layer loads one clip of
``4 * clip_len`` frames (``requires.clip_factor = 4``; 1 for spatial-only puzzles).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.data.transforms import rgb_to_grayscale
from vssl.methods.common import (
    StepOut,
    check_choice,
    float_clips,
    no_autocast,
    top1,
)
from vssl.methods.pretext import (
    check_pretext,
    crop_augment,
    input_scale,
    permutations,
    shuffle_items,
)

AXES = ("both", "spatial", "temporal")
DAMAGES = ("none", "drop", "drop_gray")
SPATIAL_CELLS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) of the 2 x 2 grid, in this (label) order


def cut_pieces(x: Tensor, axis: Tensor, where: Tensor, offsets: Tensor, piece: int) -> Tensor:
    """The 4 pieces of each clip's puzzle, in grid order (unshuffled).

    Args:
        x: ``(B, C, 4 * L, S, S)`` clips (``S`` even), cells of ``L`` frames x ``S / 2`` pixels.
        axis: ``(B,)`` 0 = spatial (the 2 x 2 cells at temporal cell ``where``), 1 = temporal (the
            4 temporal cells of spatial cell ``SPATIAL_CELLS[where]``).
        where: ``(B,)`` in 0..3.
        offsets: ``(B, 4, 2)`` (dy, dx) of each piece inside its cell, in ``0..S / 2 - piece``.
        piece: side of a piece in pixels.

    Returns:
        ``(B, 4, C, L, piece, piece)``: piece ``i`` is grid position ``i`` (spatial: the cells of
        ``SPATIAL_CELLS`` in order; temporal: time order).
    """
    b, _, t, s, _ = x.shape
    el, cell = t // 4, s // 2
    out = []
    for n in range(b):
        pieces = []
        for i in range(4):
            if int(axis[n]) == 0:
                tau, (r, c) = int(where[n]), SPATIAL_CELLS[i]
            else:
                tau, (r, c) = i, SPATIAL_CELLS[int(where[n])]
            y0 = r * cell + int(offsets[n, i, 0])
            x0 = c * cell + int(offsets[n, i, 1])
            pieces.append(x[n, :, tau * el:(tau + 1) * el, y0:y0 + piece, x0:x0 + piece])
        out.append(torch.stack(pieces))
    return torch.stack(out)


@dataclass(frozen=True)
class Config:
    """Cubic-puzzle hyperparameters (the paper's layout; sizes and head unverified)."""

    axis: str = "both"  # both (each puzzle spatial or temporal, 50 / 50; label = axis and order) | spatial | temporal
    crop: int = 112  # side of the 2 x 2 grid (cells of crop / 2)
    jitter: int = 8  # a piece is this many pixels smaller than its cell, at a random offset inside it
    channel_replication: float = 0.5  # probability of copying one random colour channel to all three
    hidden_dim: int = 512  # fc after the concatenated piece features
    dropout: float = 0.5  # before the last fc
    damage: str = "none"  # none | drop: one piece blanked | drop_gray: and all pieces grey (CDJP-style)
    normalize: str = "kinetics"  # no reference code: vssl's standard input

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, jitter=2, hidden_dim=16)

    def __post_init__(self):
        check_pretext("cubic_puzzle", self)
        check_choice("cubic_puzzle", "axis", self.axis, AXES)
        check_choice("cubic_puzzle", "damage", self.damage, DAMAGES)
        if self.crop % 2:
            raise ValueError(f"cubic_puzzle crop must be even (a 2 x 2 grid), got {self.crop}")
        if not isinstance(self.jitter, int) or not 0 <= self.jitter < self.crop // 2:
            raise ValueError(f"cubic_puzzle jitter must be an integer in [0, crop / 2), got {self.jitter!r}")
        if not 0.0 <= self.channel_replication <= 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"cubic_puzzle channel_replication must be in [0, 1] and dropout in [0, 1), got "
                             f"{self.channel_replication}, {self.dropout}")
        if not isinstance(self.hidden_dim, int) or self.hidden_dim < 1:
            raise ValueError(f"cubic_puzzle hidden_dim must be an integer >= 1, got {self.hidden_dim!r}")


class CubicPuzzle(nn.Module):
    """Space-time cubic puzzle: the order of 4 shuffled spatial or temporal pieces of a clip."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 32,
                        "epochs": 100}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.register_buffer("orders", permutations(4), persistent=False)
        n_classes = 24 * (2 if cfg.axis == "both" else 1)
        self.fc6 = nn.Linear(4 * feat_dim, cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc7 = nn.Linear(cfg.hidden_dim, n_classes)
        self.augment = crop_augment(cfg.crop)
        self.piece = cfg.crop // 2 - cfg.jitter

    @property
    def requires(self) -> Requires:
        return Requires(views=1, clip_factor=1 if self.cfg.axis == "spatial" else 4)

    def _draw(self, b: int, device) -> tuple[Tensor, Tensor, Tensor]:
        axis = {"spatial": torch.zeros(b, dtype=torch.long), "temporal": torch.ones(b, dtype=torch.long),
                "both": torch.randint(0, 2, (b,))}[self.cfg.axis]
        where = torch.randint(0, 4, (b,))
        offsets = torch.randint(0, self.cfg.jitter + 1, (b, 4, 2))
        return axis, where, offsets

    def puzzles(self, clips: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 ``(B, T, H, W, 3)`` -> shuffled, damaged network inputs ``(B, 4, 3, L, p, p)`` and labels ``(B,)``."""
        b = clips.shape[0]
        x, _, _ = self.augment(float_clips(clips))  # (B, 3, T, crop, crop)
        if self.cfg.axis == "spatial":
            x = x.repeat(1, 1, 4, 1, 1)  # one temporal cell: four copies, so `where` may pick any
        axis, where, offsets = self._draw(b, x.device)
        if self.cfg.channel_replication > 0:  # one random channel copied to all three, per clip
            rep = torch.rand(b) < self.cfg.channel_replication
            ch = torch.randint(0, 3, (b,))
            for n in torch.nonzero(rep).flatten().tolist():
                x[n] = x[n, int(ch[n])].unsqueeze(0).expand_as(x[n])
        pieces = cut_pieces(x, axis, where, offsets, self.piece)
        shuffled, order = shuffle_items(pieces, self.orders)
        if self.cfg.damage == "drop_gray":  # CDJP's decolourised pieces
            grey = rgb_to_grayscale(shuffled.flatten(0, 1))  # (B * 4, 1, L, p, p)
            shuffled = grey.expand(-1, 3, -1, -1, -1).contiguous().unflatten(0, (b, 4))
        shuffled = input_scale(shuffled.flatten(0, 1), self.cfg.normalize).unflatten(0, (b, 4))
        if self.cfg.damage != "none":  # CDJP: one piece missing (zero = the mean input after scaling)
            hole = torch.randint(0, 4, (b,))
            shuffled[torch.arange(b), hole] = 0.0
        label = order + 24 * axis.to(order.device) if self.cfg.axis == "both" else order
        return shuffled, label.to(x.device)

    def logits(self, x: Tensor) -> Tensor:
        """``(B, classes)`` of puzzles ``(B, 4, 3, L, p, p)``: the shared backbone per piece, late fusion."""
        f = torch.cat([self.backbone(x[:, i]) for i in range(4)], dim=1)
        return self.fc7(self.dropout(F.relu(self.fc6(f)))).float()

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"][:, 0]
        if self.cfg.axis != "spatial" and clips.shape[1] % 4:
            raise ValueError(f"cubic_puzzle needs 4 temporal cells: {clips.shape[1]} frames is not a multiple of 4")
        with no_autocast(clips.device):
            x, label = self.puzzles(clips)
        logits = self.logits(x)
        return StepOut(F.cross_entropy(logits, label), {"acc": top1(logits, label)})

    forward = training_step
