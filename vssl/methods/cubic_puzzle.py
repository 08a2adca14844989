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
``axis="both"`` the label is (axis, order), 48 classes.

``rotation`` (on by default: the paper's reported 65.8 UCF101, against 63.9 without, is this multi-task
version) adds 3DRotNet's task: one temporal cell of the clip (``clip_len`` frames at the full crop, after
the channel replication, undamaged) is rotated by ``k x 90`` degrees (:func:`vssl.methods.pretext.rotation_views`,
which ``rotnet3d`` uses too) and a linear head on its pooled backbone features predicts ``k``; its
cross-entropy is added with ``rotation_weight`` (how the paper draws the rotated input: unverified).

``damage`` (seed notes 001: "Completing Damaged Jigsaw Puzzles", Kim et al. 2018, CDJP) makes the
puzzle harder the CDJP way: ``"drop"`` blanks one of the 4 shuffled pieces (the network orders
the other three around the hole), ``"drop_gray"`` also gives every piece in grey only (CDJP's
decolourised puzzle). CDJP's recovery tasks come as light heads on the piece features (vssl's
guesses of the sizes, unverified; CDJP decodes full images): ``inpaint`` (with a damage) regresses
the missing piece, in colour and at the network's input scale, average-pooled to ``2 x g x g``
(``g = recovery_grid``), from the concatenated features of the 4 positions (MLP); ``colourise``
(with ``drop_gray``) regresses, for every piece but the missing one, what its grey input lacks
(colour minus grey, pooled to ``1 x g x g`` per channel: an ab-like chroma target) from that piece's
own feature (MLP); both mean-squared errors, added with ``recovery_weight``.

The 4 temporal cells are ``clip_len`` frames each: the data layer loads one clip of
``4 * clip_len`` frames (``requires.clip_factor = 4``; 1 for spatial-only puzzles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.data.transforms import rgb_to_grayscale
from vssl.methods.common import (
    StepOut,
    float_clips,
    no_autocast,
    top1,
)
from vssl.methods.pretext import (
    Normalize,
    check_pretext,
    crop_augment,
    input_scale,
    permutations,
    rotation_views,
    shuffle_items,
)
from vssl.models import MLPHead

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

    axis: Literal["both", "spatial", "temporal"] = "both"  # both: each puzzle spatial or temporal, 50 / 50; label = axis and order
    crop: int = 112  # side of the 2 x 2 grid (cells of crop / 2)
    jitter: int = 8  # a piece is this many pixels smaller than its cell, at a random offset inside it
    channel_replication: float = 0.5  # probability of copying one random colour channel to all three
    hidden_dim: int = 512  # fc after the concatenated piece features
    dropout: float = 0.5  # before the last fc
    damage: Literal["none", "drop", "drop_gray"] = "none"  # drop: one piece blanked; drop_gray: and all pieces grey (CDJP-style)
    rotation: bool = True  # + 3DRotNet's 4-way rotation loss on one cell of the clip (the paper's multi-task)
    rotation_weight: float = 1.0  # unverified
    inpaint: bool = False  # CDJP: regress the blanked piece at low resolution (needs damage)
    colourise: bool = False  # CDJP: regress the colour of the grey pieces at low resolution (needs drop_gray)
    recovery_grid: int = 4  # the recovery targets' spatial grid (g x g), unverified
    recovery_weight: float = 1.0  # of each recovery MSE, unverified
    normalize: Normalize = "kinetics"  # no reference code: vssl's standard input

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, jitter=2, hidden_dim=16)

    def __post_init__(self):
        check_pretext("cubic_puzzle", self)
        if self.crop % 2:
            raise ValueError(f"cubic_puzzle crop must be even (a 2 x 2 grid), got {self.crop}")
        if not isinstance(self.jitter, int) or not 0 <= self.jitter < self.crop // 2:
            raise ValueError(f"cubic_puzzle jitter must be an integer in [0, crop / 2), got {self.jitter!r}")
        if not 0.0 <= self.channel_replication <= 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"cubic_puzzle channel_replication must be in [0, 1] and dropout in [0, 1), got "
                             f"{self.channel_replication}, {self.dropout}")
        if not isinstance(self.hidden_dim, int) or self.hidden_dim < 1:
            raise ValueError(f"cubic_puzzle hidden_dim must be an integer >= 1, got {self.hidden_dim!r}")
        if self.rotation_weight < 0 or self.recovery_weight < 0:
            raise ValueError(f"cubic_puzzle rotation_weight and recovery_weight must be >= 0, got "
                             f"{self.rotation_weight}, {self.recovery_weight}")
        if not isinstance(self.recovery_grid, int) or self.recovery_grid < 1:
            raise ValueError(f"cubic_puzzle recovery_grid must be an integer >= 1, got {self.recovery_grid!r}")
        if self.inpaint and self.damage == "none":
            raise ValueError("cubic_puzzle inpaint needs damage=drop or drop_gray (a blanked piece to recover)")
        if self.colourise and self.damage != "drop_gray":
            raise ValueError(f"cubic_puzzle colourise needs damage=drop_gray (grey pieces to colour), "
                             f"got damage={self.damage}")


class CubicPuzzle(nn.Module):
    """Space-time cubic puzzle: the order of 4 shuffled spatial or temporal pieces of a clip."""

    Config = Config
    RECIPE = {"optim": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 32,
                        "epochs": 100}}
    # demo preset (vssl.train.presets): pieces 4 px smaller than their 28-px cells, at the demo's lr 0.03
    # (with the default rotation loss: one more backbone call per clip, on a 56-px cell)
    PRESETS: dict = {"demo": {"crop": 56, "jitter": 4}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.register_buffer("orders", permutations(4), persistent=False)
        n_classes = 24 * (2 if cfg.axis == "both" else 1)
        self.fc6 = nn.Linear(4 * feat_dim, cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc7 = nn.Linear(cfg.hidden_dim, n_classes)
        g = cfg.recovery_grid
        self.rot_head = nn.Linear(feat_dim, 4) if cfg.rotation else None
        self.inpaint_head = MLPHead(4 * feat_dim, cfg.hidden_dim, 3 * 2 * g * g) if cfg.inpaint else None
        self.colour_head = MLPHead(feat_dim, cfg.hidden_dim, 3 * g * g) if cfg.colourise else None
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
        p = self.prepare(clips)
        return p["x"], p["label"]

    def prepare(self, clips: Tensor) -> dict[str, Tensor]:
        """The puzzles of :meth:`puzzles` (``"x"``, ``"label"``) and what the extra tasks need: ``"hole"`` ``(B,)``
        the blanked position (with a damage), ``"inpaint"`` ``(B, 3, 2, g, g)`` and ``"colour"`` ``(B, 4, 3, 1, g, g)``
        recovery targets (with ``inpaint`` / ``colourise``), ``"rot_x"`` ``(B, 3, L, crop, crop)`` a rotated cell of
        each clip and ``"rot_label"`` ``(B,)`` (with ``rotation``). The draws of the puzzle come first, in the same
        order with or without the extra tasks."""
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
        out: dict[str, Tensor] = {}
        norm = self.cfg.normalize
        colour = input_scale(shuffled.flatten(0, 1), norm) if self.cfg.inpaint or self.cfg.colourise else None
        if self.cfg.damage == "drop_gray":  # CDJP's decolourised pieces
            grey = rgb_to_grayscale(shuffled.flatten(0, 1))  # (B * 4, 1, L, p, p)
            shuffled = grey.expand(-1, 3, -1, -1, -1).contiguous().unflatten(0, (b, 4))
        shuffled = input_scale(shuffled.flatten(0, 1), norm).unflatten(0, (b, 4))
        g = self.cfg.recovery_grid
        if self.cfg.colourise:  # what the grey input lacks: colour - grey, per channel (ab-like)
            chroma = colour - shuffled.flatten(0, 1)
            out["colour"] = F.adaptive_avg_pool3d(chroma, (1, g, g)).unflatten(0, (b, 4))
        if self.cfg.damage != "none":  # CDJP: one piece missing (zero = the mean input after scaling)
            hole = torch.randint(0, 4, (b,))
            out["hole"] = hole.to(x.device)
            if self.cfg.inpaint:  # before the blanking: `colour` may share memory with `shuffled`
                missing = colour.unflatten(0, (b, 4))[torch.arange(b), hole]  # (B, 3, L, p, p), a copy
                out["inpaint"] = F.adaptive_avg_pool3d(missing, (2, g, g))
            shuffled[torch.arange(b), hole] = 0.0
        out["x"] = shuffled
        out["label"] = (order + 24 * axis.to(order.device) if self.cfg.axis == "both" else order).to(x.device)
        if self.cfg.rotation:  # one temporal cell of each clip at the full crop, rotated by k x 90 degrees
            el = x.shape[2] // 4
            cell = torch.randint(0, 4, (b,)).tolist()
            clip = torch.stack([x[n, :, c * el:(c + 1) * el] for n, c in enumerate(cell)])
            rot, out["rot_label"] = rotation_views(clip)
            out["rot_x"] = input_scale(rot, norm)
        return out

    def piece_features(self, x: Tensor) -> Tensor:
        """``(B, 4, feat)`` of puzzles ``(B, 4, 3, L, p, p)``: the shared backbone once per piece position."""
        return torch.stack([self.backbone(x[:, i]) for i in range(4)], dim=1)

    def logits(self, x: Tensor, feats: Tensor | None = None) -> Tensor:
        """``(B, classes)`` of puzzles ``(B, 4, 3, L, p, p)`` (or of their :meth:`piece_features`): late fusion."""
        f = (self.piece_features(x) if feats is None else feats).flatten(1)
        return self.fc7(self.dropout(F.relu(self.fc6(f)))).float()

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"][:, 0]
        if self.cfg.axis != "spatial" and clips.shape[1] % 4:
            raise ValueError(f"cubic_puzzle needs 4 temporal cells: {clips.shape[1]} frames is not a multiple of 4")
        with no_autocast(clips.device):
            p = self.prepare(clips)
        feats = self.piece_features(p["x"])
        logits = self.logits(p["x"], feats)
        loss = F.cross_entropy(logits, p["label"])
        logs = {"acc": top1(logits, p["label"])}
        if self.rot_head is not None or self.inpaint_head is not None or self.colour_head is not None:
            logs["puzzle_loss"] = loss.detach()
        if self.rot_head is not None:
            rot_logits = self.rot_head(self.backbone(p["rot_x"])).float()
            rot_loss = F.cross_entropy(rot_logits, p["rot_label"])
            logs["rot_loss"], logs["rot_acc"] = rot_loss.detach(), top1(rot_logits, p["rot_label"])
            loss = loss + self.cfg.rotation_weight * rot_loss
        if self.inpaint_head is not None:
            pred = self.inpaint_head(feats.flatten(1)).float()
            inp_loss = F.mse_loss(pred, p["inpaint"].flatten(1).float())
            logs["inpaint_loss"] = inp_loss.detach()
            loss = loss + self.cfg.recovery_weight * inp_loss
        if self.colour_head is not None:
            b = feats.shape[0]
            kept = torch.ones(b, 4, dtype=torch.bool, device=feats.device)
            kept[torch.arange(b), p["hole"]] = False  # the missing piece has no colour to recover
            pred = self.colour_head(feats[kept]).float()
            col_loss = F.mse_loss(pred, p["colour"][kept].flatten(1).float())
            logs["colour_loss"] = col_loss.detach()
            loss = loss + self.cfg.recovery_weight * col_loss
        return StepOut(loss, logs)

    forward = training_step
