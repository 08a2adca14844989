"""Colour ops on RGB clips, one set of factors per clip: jitter (brightness, contrast,
saturation, hue), grayscale, Gaussian blur, and the per-channel normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from vssl.data.transforms._resample import _separable
from vssl.ops._batch import _check_batched, _check_rgb, _gen_device, _per_clip, _rand

# ITU-R 601 luma, as torchvision's rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)


def rgb_to_grayscale(x: Tensor) -> Tensor:
    """Luma (ITU-R 601) of RGB in dim 1: (B, 3, ...) -> (B, 1, ...)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


class ColorJitterParams(NamedTuple):
    """Per-clip colour-jitter factors (torchvision conventions).

    Attributes:
        brightness, contrast, saturation: float32 (B,) blend factors (1 = unchanged).
        hue: float32 (B,) hue shift in turns, in [-0.5, 0.5] (0 = unchanged).
        apply: bool (B,), False = the clip is left exactly as it was.
        order: op indices (0 brightness, 1 contrast, 2 saturation, 3 hue) in the
            order applied; one random order per batch (torchvision draws one per
            call too); ops with a zero range, or all of them when ``p == 0``, are
            left out.
    """

    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    apply: Tensor
    order: tuple[int, ...]


def sample_color_jitter_params(
    batch_size: int,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
    p: float = 0.8,
    *,
    random_order: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> ColorJitterParams:
    """Draw factors U[max(0, 1 - v), 1 + v] (hue U[-hue, hue]) and an apply flag
    with probability ``p`` per clip; 9 draws per clip plus one permutation of 4."""
    if not 0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5], got {hue}")
    for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    device = torch.device(device) if device is not None else _gen_device(generator)
    u = _rand((batch_size, 5), generator, device)
    perm = torch.randperm(4, generator=generator, device=_gen_device(generator)).tolist()
    order = tuple(perm) if random_order else (0, 1, 2, 3)
    ranges = {0: brightness, 1: contrast, 2: saturation, 3: hue}
    # Ops that can only be the identity are left out (the draws above are kept, so the
    # random stream does not depend on the settings).
    order = tuple(i for i in order if ranges[i] > 0) if p > 0 else ()

    def factor(col: int, v: float) -> Tensor:
        lo = max(0.0, 1.0 - v)
        return lo + (1.0 + v - lo) * u[:, col]

    return ColorJitterParams(
        brightness=factor(0, brightness),
        contrast=factor(1, contrast),
        saturation=factor(2, saturation),
        hue=-hue + 2.0 * hue * u[:, 3],
        apply=u[:, 4] < p,
        order=order,
    )


def one_of_jitter(params: ColorJitterParams, generator: torch.Generator | None = None) -> ColorJitterParams:
    """Keep one of the four jitter ops per clip, chosen uniformly, the others set to the
    identity; every clip jittered (``apply`` all True).

    This is what the DSM / BE reference ``ColorJitter`` does in effect: it shuffles
    the four ops but applies each to the *original* frame and keeps the last result,
    so exactly one random op takes effect. 1 draw per clip.
    """
    bsz, dev = params.brightness.shape[0], params.brightness.device
    k = (_rand((bsz,), generator, dev) * 4).long().clamp_(max=3)
    one = torch.ones_like(params.brightness)
    return ColorJitterParams(
        brightness=torch.where(k == 0, params.brightness, one),
        contrast=torch.where(k == 1, params.contrast, one),
        saturation=torch.where(k == 2, params.saturation, one),
        hue=torch.where(k == 3, params.hue, torch.zeros_like(params.hue)),
        apply=torch.ones_like(params.apply),
        order=params.order,
    )


def _blend(a: Tensor, b: Tensor, ratio: Tensor) -> Tensor:
    return (ratio * a + (1.0 - ratio) * b).clamp_(0.0, 1.0)


def _shift_hue(y: Tensor, shift: Tensor) -> Tensor:
    """Rotate the HSV hue of y (B, 3, N) by ``shift`` (B, 1) turns; exact HSV round trip.

    Uses max/min/hue only: with ``v = max`` and ``v * s = max - min`` the HSV->RGB map
    is ``c_n = max - (max - min) * clamp(min(k, 4 - k), 0, 1)``, ``k = (n + 6 h) mod 6``
    for n = 5, 3, 1 (R, G, B). In-place steps on temporaries: this is the most
    expensive colour op (about 2/3 of the jitter time on a CPU).
    """
    r, g, b = y.unbind(1)
    minc, maxc = torch.aminmax(y, dim=1)
    cr = maxc - minc
    is_r, is_g = maxc == r, maxc == g
    num = torch.where(is_r, g - b, torch.where(is_g, b - r, r - g))
    offset = torch.where(is_r, 0.0, torch.where(is_g, 2.0, 4.0)).to(y.dtype)
    h6 = num.div_(torch.where(cr > 0, cr, torch.ones_like(cr))).add_(offset)
    h6 = h6.add_(6.0 * shift).remainder_(6.0)  # hue in sixths of a turn, (B, N)
    n = torch.tensor([5.0, 3.0, 1.0], device=y.device, dtype=y.dtype).view(1, 3, 1)
    k = (h6.unsqueeze(1) + n).remainder_(6.0)
    k = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return k.mul_(-cr.unsqueeze(1)).add_(maxc.unsqueeze(1))


def apply_color_jitter(x: Tensor, params: ColorJitterParams) -> Tensor:
    """Apply per-clip jitter factors identically to every frame of each clip.

    Brightness, saturation and hue act per pixel, so the same map hits every frame.
    Contrast blends with the mean luma of the *whole clip* (over T, H, W), not of each
    frame, so that it is one and the same affine map for all frames of the clip
    (torchvision applied to a frame stack would use per-frame means).

    Args:
        x: float RGB (B, 3, T, H, W) or (B, 3, H, W) in [0, 1].

    Returns:
        Same shape and dtype, in [0, 1].
    """
    _check_rgb(x)
    bsz = x.shape[0]
    flat = x.reshape(bsz, 3, -1)
    y = flat

    def f(v: Tensor) -> Tensor:
        return v.to(device=x.device, dtype=x.dtype).view(bsz, 1, 1)

    for op in params.order:
        if op == 0:
            y = (y * f(params.brightness)).clamp_(0.0, 1.0)
        elif op == 1:
            y = _blend(y, rgb_to_grayscale(y).mean(dim=2, keepdim=True), f(params.contrast))
        elif op == 2:
            y = _blend(y, rgb_to_grayscale(y), f(params.saturation))
        elif op == 3:  # the costly op: only on the clips it changes (applied, non-zero shift)
            shift = f(params.hue).view(bsz, 1)
            rows = (params.apply.to(x.device) & (params.hue.to(x.device) != 0)).nonzero().flatten()
            if len(rows) == bsz:
                y = _shift_hue(y, shift)
            elif len(rows):
                y = y.clone()
                y[rows] = _shift_hue(y[rows], shift[rows])
    y = torch.where(params.apply.to(x.device).view(bsz, 1, 1), y, flat)
    return y.reshape(x.shape)


def color_jitter(
    x: Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
    p: float = 0.8,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random colour jitter, one set of factors per clip (see :func:`apply_color_jitter`)."""
    params = sample_color_jitter_params(
        x.shape[0], brightness, contrast, saturation, hue, p, generator=generator, device=x.device
    )
    return apply_color_jitter(x, params)


def apply_grayscale(x: Tensor, apply: Tensor) -> Tensor:
    """Replace the clips where ``apply`` (bool (B,)) by their luma, replicated to 3 channels."""
    _check_rgb(x)
    gray = rgb_to_grayscale(x).expand_as(x)
    return torch.where(_per_clip(apply, x).bool(), gray, x)


def random_grayscale(x: Tensor, p: float = 0.2, *, generator: torch.Generator | None = None) -> Tensor:
    """Turn each clip grey with probability ``p`` (all its frames)."""
    return apply_grayscale(x, _rand((x.shape[0],), generator, x.device) < p)


def blur_kernel_size(h: int, w: int, frac: float = 0.1) -> int:
    """Odd kernel size ``int(frac * min(h, w)) // 2 * 2 + 1``, at least 3
    (SimCLR: about 10 % of the image side; 11 for 112)."""
    return max(3, int(frac * min(h, w)) // 2 * 2 + 1)


def _blur_matrix(sigma: Tensor, n: int, ksize: int) -> Tensor:
    """(B, n, n) Gaussian blur matrices with reflect padding; sigma <= 0 gives identity."""
    radius = ksize // 2
    if radius >= n:
        raise ValueError(f"blur kernel {ksize} too large for a side of {n}")
    device = sigma.device
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    s = sigma.to(torch.float32).clamp(min=1e-6)[:, None]
    g = torch.exp(-0.5 * (t[None, :] / s) ** 2)
    g = g / g.sum(dim=1, keepdim=True)
    delta = (t == 0).to(torch.float32).expand_as(g)
    g = torch.where(sigma[:, None] > 0, g, delta)  # (B, k)
    i = torch.arange(n, device=device)[:, None]
    idx = (i + t.long()[None, :]).abs()  # reflect at 0 (no edge repeat, as F.pad "reflect")
    idx = torch.where(idx > n - 1, 2 * (n - 1) - idx, idx)  # reflect at n - 1
    m = torch.zeros(sigma.shape[0], n, n, device=device, dtype=torch.float32)
    m.scatter_add_(2, idx.expand(sigma.shape[0], n, ksize), g[:, None, :].expand(-1, n, -1))
    return m


def apply_gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int | None = None) -> Tensor:
    """Separable Gaussian blur with a per-clip ``sigma`` (float (B,), in output pixels;
    ``<= 0`` leaves the clip exactly unchanged), same on every frame and channel.

    Args:
        x: float (B, C, T, H, W) or (B, C, H, W), any C.
        kernel_size: odd; default :func:`blur_kernel_size` of the frame size.
    """
    _check_batched(x)
    h, w = x.shape[-2:]
    k = kernel_size if kernel_size is not None else blur_kernel_size(h, w)
    if k % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {k}")
    sigma = sigma.to(x.device)
    return _separable(x, _blur_matrix(sigma, h, k), _blur_matrix(sigma, w, k))


def gaussian_blur(
    x: Tensor,
    p: float = 0.5,
    sigma: tuple[float, float] = (0.1, 2.0),
    *,
    kernel_frac: float = 0.1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Blur each clip with probability ``p``, sigma ~ U(sigma) per clip, kernel
    ``kernel_frac`` of the short side (MoCo v2 / SimCLR recipe)."""
    s = _sample_blur_sigma(x.shape[0], p, sigma, generator, x.device)
    return apply_gaussian_blur(x, s, blur_kernel_size(x.shape[-2], x.shape[-1], kernel_frac))


def _sample_blur_sigma(n: int, p: float, sigma: tuple[float, float], generator, device) -> Tensor:
    u = _rand((n, 2), generator, device)
    s = sigma[0] + (sigma[1] - sigma[0]) * u[:, 0]
    return torch.where(u[:, 1] < p, s, torch.zeros_like(s))


def normalize(x: Tensor, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> Tensor:
    """(x - mean) / std per channel (dim 1), for (B, C, T, H, W) or (B, C, H, W)."""
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean_t.view(shape)) / std_t.view(shape)
