"""Masked reconstruction: the pixel target and loss of MAE / VideoMAE.

He et al. 2022 (MAE, https://arxiv.org/abs/2111.06377, sec. 3 and the ablation of the target):
the target of a patch is its pixels, optionally normalised by the mean and standard deviation
of all pixels of that patch; the loss is the mean squared error on the masked patches only.
VideoMAE (Tong et al. 2022, https://arxiv.org/abs/2203.12602) uses the same with 2 x 16 x 16
tubelets as patches.
"""

from __future__ import annotations

import torch
from torch import Tensor


def patchify(x: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """Clip ``(B, C, T, H, W)`` -> patches ``(B, N, t*h*w*C)``.

    Token order t-major, then h, w (the order of :meth:`vssl.models.vit.VideoViT.tokens`); within a
    patch the values are ordered (t, h, w, C).
    """
    b, c, t, h, w = x.shape
    pt, ph, pw = patch
    if t % pt or h % ph or w % pw:
        raise ValueError(f"clip {t}x{h}x{w} is not a multiple of the patch {pt}x{ph}x{pw}")
    x = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', H', W', pt, ph, pw, C)
    return x.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)


def normalize_patches(p: Tensor, eps: float = 1e-6, channels: int = 0) -> Tensor:
    """Per-patch normalised pixels: ``(p - mean) / sqrt(var + eps)`` over each patch's values.

    Args:
        p: ``(..., P)`` patches (:func:`patchify`).
        eps: added to the variance (MAE: 1e-6).
        channels: 0 = one mean and variance over all values of the patch (MAE's description);
            ``C`` > 0 = one per colour channel (the last axis read as ``(P / C, C)``).

    The variance is the biased one (divided by the number of values).
    """
    if channels:
        q = p.reshape(*p.shape[:-1], -1, channels)
        mean, var = q.mean(-2, keepdim=True), q.var(-2, keepdim=True, unbiased=False)
        return ((q - mean) / (var + eps).sqrt()).reshape(p.shape)
    mean, var = p.mean(-1, keepdim=True), p.var(-1, keepdim=True, unbiased=False)
    return (p - mean) / (var + eps).sqrt()


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the masked patches only.

    Args:
        pred: ``(B, N, P)`` predicted patches (or only the masked ones, with ``mask=None``).
        target: same shape; detached here.
        mask: bool ``(B, N)``, True = masked (these count); None = every patch counts.

    Returns:
        ``sum_masked mean_P (pred - target)^2 / #masked``: scalar (0 when nothing is masked).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    err = (pred.float() - target.detach().float()).pow(2).mean(-1)  # (B, N)
    if mask is None:
        return err.mean()
    if mask.shape != err.shape:
        raise ValueError(f"mask {tuple(mask.shape)} does not match the patches {tuple(err.shape)}")
    m = mask.to(err.dtype)
    return (err * m).sum() / m.sum().clamp_min(1.0)
