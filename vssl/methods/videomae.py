"""VideoMAE: masked video autoencoding with tube masking at a high ratio.

Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised
Video Pre-Training", NeurIPS 2022 (https://arxiv.org/abs/2203.12602). Facts from the paper only
(its code is CC BY-NC and is not used); RECIPES.md, "Masked video modelling":

* a plain ViT (:mod:`vssl.models.vit`) on 16-frame clips cut into 2 x 16 x 16 tubelets
  (224 x 224: 8 x 14 x 14 = 1 568 tokens);
* tube masking: one random spatial mask, the same for every temporal slice, hiding
  ``mask_ratio`` = 90 % of the tokens;
* the encoder sees the visible tokens only (the speed point of the method: 10 % of the tokens);
* a light decoder (``decoder_depth`` = 4 blocks, half the encoder's width: 384 for ViT-B, with
  fixed positions and a learnt mask token) predicts the pixels of the masked tubelets;
* target: the pixels of each masked tubelet normalised by the tubelet's mean and standard
  deviation (MAE's "normalised pixels"); loss: mean squared error on the masked tokens only
  (:mod:`vssl.losses.masked_reconstruction`);
* AdamW, betas (0.9, 0.95), weight decay 0.05, base lr 1.5e-4 per 256 clips (linear scaling),
  40 warm-up epochs, cosine decay, 800 epochs (UCF101 / HMDB51 need more: 3 200 / 4 800);
* augmentation: multi-scale crop and horizontal flip, no colour augmentation.

Every departure and its option: docs/fidelity.md, "VideoMAE". :class:`VideoMAE` is also the
engine of MGM (:mod:`vssl.methods.mgm`), which only changes how the mask is chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from vssl.data.requires import Requires
from vssl.data.transforms import ClipAugment
from vssl.errors import InputError
from vssl.losses import masked_mse, normalize_patches, patchify
from vssl.methods.common import StepOut, float_clips, no_autocast, norm
from vssl.models.vit import Block, init_transformer, sincos_3d
from vssl.utils.typed import check_choices

NormTarget = Literal["patch", "patch_channel", "none"]
"""What the decoder reconstructs (VideoMAE's and MGM's ``norm_target``)."""


def check_mae(method: str, cfg) -> None:
    """One-line ValueErrors for the fields VideoMAE and MGM share and every ``Literal`` field of ``cfg``."""
    check_choices(cfg, method)
    if not 0.0 < cfg.mask_ratio < 1.0:
        raise ValueError(f"{method} mask_ratio must be in (0, 1), got {cfg.mask_ratio}")
    for name in ("decoder_dim", "decoder_heads"):
        if not isinstance(getattr(cfg, name), int) or getattr(cfg, name) < 0:
            raise ValueError(f"{method} {name} must be an integer >= 0 (0 = automatic), got {getattr(cfg, name)!r}")
    if cfg.decoder_depth < 1:
        raise ValueError(f"{method} decoder_depth must be >= 1, got {cfg.decoder_depth}")
    if not 0.0 < cfg.min_scale <= 1.0:
        raise ValueError(f"{method} min_scale must be in (0, 1], got {cfg.min_scale}")


@dataclass(frozen=True)
class Config:
    """VideoMAE hyperparameters (the paper's pre-training settings, RECIPES.md)."""

    mask_ratio: float = 0.9
    masking: Literal["tube", "random"] = "tube"  # tube (paper) | random (independent per token, the paper's ablation)
    decoder_dim: int = 0  # 0 = half the encoder's width (paper: 384 for ViT-B)
    decoder_depth: int = 4
    decoder_heads: int = 0  # 0 = decoder_dim / 64, at least 1 (384 -> 6)
    norm_target: NormTarget = "patch"  # patch (normalised pixels) | patch_channel (per colour channel) | none
    crop: int = 224
    min_scale: float = 0.44  # multi-scale crop: sides in (0.66 .. 1) of the short side -> area >= 0.44
    flip: bool = True  # the paper flips on Kinetics, not on Something-Something

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=32)

    def __post_init__(self):
        check_mae("videomae", self)


def split_by_mask(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Bool ``(B, N)`` with the same number of True per row -> ``(visible (B, N_vis), masked (B, N_mask))``
    int64 token indices, each in increasing order."""
    n_mask = mask.sum(1)
    if bool((n_mask != n_mask[0]).any()):
        raise ValueError("every clip must have the same number of masked tokens")
    order = torch.argsort(mask.to(torch.int8), dim=1, stable=True)
    n_vis = mask.shape[1] - int(n_mask[0])
    return order[:, :n_vis], order[:, n_vis:]


def tube_mask(batch: int, grid: tuple[int, int, int], ratio: float, device=None) -> Tensor:
    """VideoMAE's tube masking: bool ``(B, T' H' W')`` (t-major), True = masked; per clip one random
    set of ``round(ratio * H' W')`` spatial positions, masked in every temporal slice. Random draws
    from the global torch generator."""
    t, h, w = grid
    n_sp = h * w
    k = min(n_sp - 1, max(1, round(ratio * n_sp)))
    ranks = torch.rand(batch, n_sp, device=device).argsort(1)
    sp = torch.zeros(batch, n_sp, dtype=torch.bool, device=device)
    sp.scatter_(1, ranks[:, :k], True)
    return sp[:, None].expand(batch, t, n_sp).reshape(batch, t * n_sp)


def random_mask(batch: int, grid: tuple[int, int, int], ratio: float, device=None) -> Tensor:
    """Independent random masking of ``round(ratio * N)`` of all ``N`` tokens per clip (MAE's)."""
    n = math.prod(grid)
    k = min(n - 1, max(1, round(ratio * n)))
    ranks = torch.rand(batch, n, device=device).argsort(1)
    m = torch.zeros(batch, n, dtype=torch.bool, device=device)
    return m.scatter_(1, ranks[:, :k], True)


class MAEDecoder(nn.Module):
    """Light transformer decoder: encoder tokens + mask tokens at their positions -> masked patches.

    Args:
        enc_dim: encoder width; dim, depth, heads: the decoder's; out_dim: values per patch.
    """

    def __init__(self, enc_dim: int, dim: int, depth: int, heads: int, out_dim: int):
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out_dim)
        init_transformer(self)
        nn.init.normal_(self.mask_token, std=0.02)
        self._pos: dict[tuple, Tensor] = {}

    def forward(self, z: Tensor, visible: Tensor, masked: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """``z`` ``(B, N_vis, enc_dim)`` encoder output of the tokens ``visible`` ``(B, N_vis)`` ->
        predictions ``(B, N_mask, out_dim)`` for the tokens ``masked`` ``(B, N_mask)``, in that order."""
        key = (grid, str(z.device))
        if key not in self._pos:
            self._pos[key] = sincos_3d(grid, self.dim).to(z.device)
        pos = self._pos[key]
        x_vis = self.embed(z) + pos[visible].to(z.dtype)
        x_mask = self.mask_token.to(x_vis.dtype) + pos[masked].to(x_vis.dtype)
        x = torch.cat([x_vis, x_mask], dim=1)  # attention is order-free: positions carry the layout
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, z.shape[1]:]))


def check_vit(method: str, backbone: nn.Module) -> None:
    """Masked modelling needs a backbone that can run on a subset of its tokens."""
    if not callable(getattr(backbone, "tokens", None)) or not hasattr(backbone, "patch"):
        raise InputError(f"{method} needs a ViT backbone that runs on visible tokens only: "
                         f"--backbone vit_tiny, vit_s or vit_b (got {type(backbone).__name__})")


class VideoMAE(nn.Module):
    """VideoMAE: encoder on the visible tubelets, decoder reconstructs the masked ones."""

    Config = Config
    RECIPE = {
        "data": {"clip_len": 16, "stride": 4, "load_size": [256, 341]},
        "optim": {"optimizer": "adamw", "lr": 1.5e-4, "lr_scaling": "linear", "base_batch": 256,
                  "betas": [0.9, 0.95], "weight_decay": 0.05, "exclude_norm_bias": True,
                  "epochs": 800, "warmup_epochs": 40.0},
    }
    # demo preset (vssl.train.presets): the tiny ViT (2x8x8 tubelets: 4 x 7 x 7 tokens of an 8 x 56 x 56 clip,
    # 20 visible at 90 %), AdamW at a flat 1e-3 (the paper's 1.5e-4 per 256 clips would be 1e-5 at batch 16:
    # nothing moves in 300 steps)
    PRESETS: dict = {"demo": {"_backbone": "vit_tiny", "crop": 56, "_optim.lr": 1e-3, "_optim.lr_scaling": "none"}}
    BACKBONE = "vit_b"  # the default --backbone (the paper's ViT-B); any ViT of vssl.models.vit runs
    NAME = "videomae"

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        check_vit(self.NAME, backbone)
        self.cfg = cfg
        self.backbone = backbone
        self.patch = tuple(backbone.patch)
        if cfg.crop % self.patch[1]:
            raise InputError(f"{self.NAME} crop {cfg.crop} must be a multiple of the ViT patch {self.patch[1]}")
        dim = cfg.decoder_dim or max(8, feat_dim // 2)
        heads = cfg.decoder_heads or max(1, dim // 64)
        if dim % heads:
            raise InputError(f"{self.NAME} decoder_dim {dim} must be divisible by decoder_heads {heads}")
        self.patch_values = math.prod(self.patch) * 3
        self.decoder = MAEDecoder(feat_dim, dim, cfg.decoder_depth, heads, self.out_dim())
        self.augment = ClipAugment(cfg.crop, scale=(cfg.min_scale, 1.0), flip_p=0.5 if cfg.flip else 0.0,
                                   jitter_p=0.0, gray_p=0.0, blur_p=0.0, **self.augment_extras())

    def token_counts(self, clip_len: int) -> tuple[int, int]:
        """(tokens of a ``clip_len`` x crop x crop clip, those the encoder sees) at ``mask_ratio``."""
        t, h, w = clip_len // self.patch[0], self.cfg.crop // self.patch[1], self.cfg.crop // self.patch[2]
        n_sp = h * w
        return t * n_sp, t * (n_sp - min(n_sp - 1, max(1, round(self.cfg.mask_ratio * n_sp))))

    def out_dim(self) -> int:
        """Values the decoder predicts per masked token."""
        return self.patch_values

    def augment_extras(self) -> dict:
        return {}

    @property
    def requires(self) -> Requires:
        return Requires(views=1)

    def target(self, x: Tensor) -> Tensor:
        """Pixel target ``(B, N, P)`` of a clip in [0, 1] ``(B, 3, T, H, W)``."""
        p = patchify(x, self.patch)
        if self.cfg.norm_target == "patch":
            return normalize_patches(p)
        if self.cfg.norm_target == "patch_channel":
            return normalize_patches(p, channels=3)
        return p

    def make_mask(self, batch: dict, extras: dict, grid: tuple[int, int, int], device) -> Tensor:
        """Bool ``(B, N)``, True = masked."""
        b = batch["clips"].shape[0]
        make = tube_mask if self.cfg.masking == "tube" else random_mask
        return make(b, grid, self.cfg.mask_ratio, device)

    def reconstruct(self, x: Tensor, mask: Tensor, grid) -> tuple[Tensor, Tensor]:
        """Predictions ``(B, N_mask, out_dim)`` for the masked tokens and their indices ``(B, N_mask)``."""
        visible, masked = split_by_mask(mask)
        z = self.backbone.tokens(x, visible)
        return self.decoder(z, visible, masked, grid), masked

    def augmented(self, batch: dict) -> tuple[Tensor, dict]:
        x, extras, _ = self.augment(float_clips(batch["clips"][:, 0]))
        return x, extras

    def training_step(self, batch: dict) -> StepOut:
        dev = batch["clips"].device
        with no_autocast(dev):
            x, extras = self.augmented(batch)  # (B, 3, T, H, W) in [0, 1]
            target = self.target(x)
            x = norm(x)
        grid = self.backbone.grid(x)
        with no_autocast(dev):
            mask = self.make_mask(batch, extras, grid, dev)
        pred, masked = self.reconstruct(x, mask, grid)
        idx = masked[..., None].expand(-1, -1, target.shape[-1])
        loss = masked_mse(pred[..., : self.patch_values], torch.gather(target, 1, idx), None)
        logs = {"mask_ratio": mask.float().mean().detach()}
        return self.extra_loss(loss, logs, pred, masked, extras, grid)

    def extra_loss(self, loss: Tensor, logs: dict, pred: Tensor, masked: Tensor, extras: dict, grid) -> StepOut:
        return StepOut(loss, logs)

    forward = training_step
