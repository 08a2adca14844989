"""MGM: motion-guided masking, the masks chosen from the motion vectors of the compressed stream.

Fan et al., "Motion-Guided Masking for Spatiotemporal Representation Learning", ICCV 2023
(https://arxiv.org/abs/2308.12962): a video MAE whose masked region follows the moving content
over time instead of a fixed tube, located with the motion vectors the H.264 stream already
stores (no optical flow). vssl reads those vectors from its cache (``requires.mv_window =
"clip"``: the vectors of every frame of the clip's span, cropped and flipped with the clip).

The masking (:func:`motion_guided_mask`): the motion magnitude ``|mv|`` is averaged over each
token's tubelet (its frames and its pixels), lightly smoothed over the token grid
(``smooth`` x ``smooth`` box, so the mask covers the moving region rather than scattered
cells), and in every temporal slice the ``round(mask_ratio * H' W')`` tokens of largest motion
are masked: a mask that moves with the motion from slice to slice. A clip whose span has no
vectors at all (intra-only frames) falls back to VideoMAE's random tube mask (``no_motion`` in
the logs); a batch with none at all is an error: the cache has no motion vectors to guide with.

Everything else is VideoMAE's (:mod:`vssl.methods.videomae`: encoder on the visible tokens,
decoder, normalised-pixel target, AdamW recipe). ``mv_target=true`` adds the motion vectors as
a second reconstruction target: the decoder also predicts each masked token's mean (dx, dy)
(clamped to +-``mv_clamp`` pixels and divided by it), MSE weighted by ``mv_weight``.
Departures: docs/fidelity.md, "MGM".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vssl.data.requires import Requires
from vssl.errors import InputError
from vssl.losses import masked_mse
from vssl.methods.common import StepOut, float_clips
from vssl.methods.videomae import NormTarget, VideoMAE, check_mae, tube_mask


@dataclass(frozen=True)
class Config:
    """MGM hyperparameters: VideoMAE's, and how the motion guides the mask."""

    mask_ratio: float = 0.9  # VideoMAE's ratio (the ratio of the MGM paper is not verified here)
    smooth: int = 3  # box filter side (tokens) over the motion map before the top-k; 1 = none
    mv_target: bool = False  # also reconstruct the masked tokens' motion vectors
    mv_weight: float = 1.0
    mv_clamp: float = 10.0  # pixels of the crop; the vector target is clamp(mv) / mv_clamp
    decoder_dim: int = 0
    decoder_depth: int = 4
    decoder_heads: int = 0
    norm_target: NormTarget = "patch"
    crop: int = 224
    min_scale: float = 0.44
    flip: bool = True

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=32)

    def __post_init__(self):
        check_mae("mgm", self)
        if not isinstance(self.smooth, int) or self.smooth < 1 or self.smooth % 2 == 0:
            raise ValueError(f"mgm smooth must be an odd integer >= 1, got {self.smooth!r}")
        if self.mv_weight < 0 or self.mv_clamp <= 0:
            raise ValueError(f"mgm mv_weight must be >= 0 and mv_clamp > 0, got {self.mv_weight}, {self.mv_clamp}")


def token_motion(mv: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """Motion field ``(B, 2, T_mv, h, w)`` (dx, dy) -> mean magnitude per token ``(B, T', H', W')``.

    The field covers the clip's span and field of view; ``T_mv`` frames and the ``h x w`` grid
    are averaged onto the token grid (adaptive average pooling).
    """
    mag = torch.linalg.vector_norm(mv.float(), dim=1, keepdim=True)  # (B, 1, T_mv, h, w)
    return F.adaptive_avg_pool3d(mag, grid)[:, 0]


def motion_guided_mask(motion: Tensor, ratio: float, smooth: int = 3) -> Tensor:
    """Bool ``(B, T' H' W')`` (t-major), True = masked: per temporal slice the
    ``round(ratio * H' W')`` tokens of largest (box-smoothed) motion.

    Ties (e.g. a motionless region) are broken at random (global torch generator), so a clip
    without any motion gets a random mask per slice.
    """
    b, t, h, w = motion.shape
    n_sp = h * w
    k = min(n_sp - 1, max(1, round(ratio * n_sp)))
    m = motion.float()
    if smooth > 1:
        m = F.avg_pool2d(m.reshape(b * t, 1, h, w), smooth, stride=1, padding=smooth // 2,
                         count_include_pad=False).reshape(b, t, h, w)
    scale = m.flatten(1).amax(1).clamp_min(1e-12)[:, None, None, None]
    score = m / scale + 1e-6 * torch.rand(m.shape, device=m.device)  # ties at random, far below real differences
    top = score.reshape(b, t, n_sp).topk(k, dim=2).indices
    mask = torch.zeros(b, t, n_sp, dtype=torch.bool, device=motion.device)
    return mask.scatter_(2, top, True).reshape(b, t * n_sp)


class MGM(VideoMAE):
    """VideoMAE whose masks follow the motion vectors of the cache."""

    Config = Config
    RECIPE = VideoMAE.RECIPE
    PRESETS = VideoMAE.PRESETS  # demo preset: the tiny ViT, AdamW at a flat 1e-3 (see VideoMAE)
    NAME = "mgm"

    def out_dim(self) -> int:
        return self.patch_values + (2 if self.cfg.mv_target else 0)

    def augment_extras(self) -> dict:
        # vectors cropped and flipped with the clip, values corrected to pixels of the crop
        return {"mv_keys": ("mv",), "mv_faithful": False, "extra_sizes": {"mv": max(1, self.cfg.crop // 4)}}

    @property
    def requires(self) -> Requires:
        return Requires(views=1, mv=True, mv_window="clip", mv_units="load")

    def augmented(self, batch: dict) -> tuple[Tensor, dict]:
        if "mv" not in batch:
            raise InputError("mgm needs the clips' motion vectors (requires mv_window=clip); got a batch without 'mv'")
        x, extras, _ = self.augment(float_clips(batch["clips"][:, 0]), {"mv": batch["mv"].float()})
        return x, extras

    def make_mask(self, batch: dict, extras: dict, grid, device) -> Tensor:
        valid = batch.get("mv_valid")
        has = valid > 0 if valid is not None else torch.ones(batch["clips"].shape[0], dtype=torch.bool, device=device)
        if not bool(has.any()):
            raise InputError("mgm: none of the batch's clips has motion vectors (intra-only video in the cache?); "
                             "motion-guided masking needs P/B-frames: use --method videomae on this cache")
        motion = token_motion(extras["mv"], grid)
        extras["token_mv"] = F.adaptive_avg_pool3d(extras["mv"].float(), grid)  # (B, 2, T', H', W')
        mask = motion_guided_mask(motion, self.cfg.mask_ratio, self.cfg.smooth)
        if not bool(has.all()):  # clips without vectors: VideoMAE's tube mask
            tube = tube_mask(mask.shape[0], grid, self.cfg.mask_ratio, device)
            mask = torch.where(has[:, None], mask, tube)
        extras["no_motion"] = (~has).float().mean()
        return mask

    def extra_loss(self, loss: Tensor, logs: dict, pred: Tensor, masked: Tensor, extras: dict, grid) -> StepOut:
        logs["no_motion"] = extras["no_motion"].detach()
        if self.cfg.mv_target:
            c = self.cfg.mv_clamp
            tgt = extras["token_mv"].flatten(2).transpose(1, 2).clamp(-c, c) / c  # (B, N, 2)
            tgt = torch.gather(tgt, 1, masked[..., None].expand(-1, -1, 2))
            loss_mv = masked_mse(pred[..., self.patch_values:], tgt, None)
            logs["loss_pixels"], logs["loss_mv"] = loss.detach(), loss_mv.detach()
            loss = loss + self.cfg.mv_weight * loss_mv
        return StepOut(loss, logs)

    forward = VideoMAE.training_step
