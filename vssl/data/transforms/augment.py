"""The MoCo v2 clip augmentation as one module: :class:`ClipAugment` (geometry, then
colour, with one random stream) and the :class:`AugmentParams` it drew."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vssl.data.transforms._resample import Size, _pair
from vssl.data.transforms.colour import (
    ColorJitterParams,
    _sample_blur_sigma,
    apply_color_jitter,
    apply_gaussian_blur,
    apply_grayscale,
    blur_kernel_size,
    normalize,
    one_of_jitter,
    sample_color_jitter_params,
)
from vssl.data.transforms.geometry import (
    CropParams,
    resized_crop,
    rotated_crop,
    sample_crop_params,
    sample_fixed_crop_params,
    transform_motion_vectors,
)
from vssl.ops._batch import _check_rgb, _rand


class AugmentParams(NamedTuple):
    """Everything :class:`ClipAugment` drew for one batch.

    Attributes:
        crop: boxes and flips (also applied to the extras).
        jitter: colour-jitter factors.
        grayscale: bool (B,).
        blur_sigma: float32 (B,), 0 = not blurred.
        angle: float32 (B,) rotation in degrees (all 0 without ``rotation``).
    """

    crop: CropParams
    jitter: ColorJitterParams
    grayscale: Tensor
    blur_sigma: Tensor
    angle: Tensor | None = None


class ClipAugment(nn.Module):
    """MoCo v2 clip augmentation, batched on the clips' device, identical over frames.

    Random resized crop (scale (0.2, 1), ratio (3/4, 4/3)), horizontal flip p=0.5,
    colour jitter (0.4, 0.4, 0.4, 0.1) p=0.8, grayscale p=0.2, Gaussian blur
    sigma (0.1, 2) p=0.5 with a kernel of 10 % of the output side, then optional
    normalisation (RECIPES.md, shared contrastive setup). Crop and flip come first
    so the colour ops run on the small output.

    Extras (masks, static frames, score maps, motion vectors) get the geometric part
    only, with the same boxes: keys in ``mv_keys`` go through
    :func:`transform_motion_vectors` (``mv_faithful``; corrected values are in
    pixels of the ``size`` output clip), every other key through
    :func:`resized_crop`. Extras may be (B, C, T, h, w) or (B, C, h, w) at any
    resolution covering the same field of view as the clip.

    Args:
        size: output side or (H, W).
        mean, std: normalise the clip (not the extras) at the end when given.
        mv_keys: extras that are motion-vector fields.
        mv_faithful: True (default) = CMD reference behaviour; False = corrected.
        mv_cell_size: source pixels per motion-vector cell (e.g. 4 for the cache's
            ``ceil(H / 4)`` grid); None = scale by the size ratio.
        extra_sizes: output size per extra key (default ``size``).
        extra_modes: "bilinear" or "nearest" per extra key (default bilinear).
        antialias: widen the resize filter when downscaling.
        crop_mode: "resized" (default): random resized crop with ``scale`` and
            ``ratio``; "fixed": resize the short side to ``resize_short`` and take a
            random ``size`` crop, no scale change (DSM / BE reference code).
        resize_short: the short side before a "fixed" crop (128 for 112 crops).
        rotation: rotate each clip by U(-rotation, rotation) degrees about the frame
            centre before cropping (black corners; DSM / BE reference: 10). Done by
            one ``grid_sample`` (no antialiasing); not for motion-vector extras.
        jitter_one_of: apply only one of the four jitter ops per clip
            (:func:`one_of_jitter`, the DSM / BE reference behaviour).

    :meth:`geometric` (crop, flip, rotation, also on the extras) and :meth:`colour`
    (jitter, grey, blur, normalisation) can be called apart, e.g. to build a FAME
    mask between them; ``forward`` is the two in a row with the same random stream.
    """

    def __init__(
        self,
        size: Size = 112,
        *,
        scale: tuple[float, float] = (0.2, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        jitter_p: float = 0.8,
        gray_p: float = 0.2,
        blur_p: float = 0.5,
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        blur_kernel_frac: float = 0.1,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        mv_keys: Sequence[str] = ("mv",),
        mv_faithful: bool = True,
        mv_cell_size: float | None = None,
        extra_sizes: Mapping[str, Size] | None = None,
        extra_modes: Mapping[str, str] | None = None,
        antialias: bool = True,
        crop_mode: str = "resized",
        resize_short: int | None = None,
        rotation: float = 0.0,
        jitter_one_of: bool = False,
    ) -> None:
        super().__init__()
        if crop_mode not in ("resized", "fixed"):
            raise ValueError(f"crop_mode must be 'resized' or 'fixed', got {crop_mode!r}")
        if crop_mode == "fixed" and (resize_short is None or resize_short < max(_pair(size))):
            raise ValueError(f"crop_mode 'fixed' needs resize_short >= the crop size, got {resize_short}")
        if rotation < 0:
            raise ValueError(f"rotation must be >= 0 degrees, got {rotation}")
        for name, v in (("flip_p", flip_p), ("jitter_p", jitter_p), ("gray_p", gray_p), ("blur_p", blur_p)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a probability, got {v}")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
        if not 0 < blur_sigma[0] <= blur_sigma[1]:
            raise ValueError(f"blur_sigma must satisfy 0 < min <= max, got {blur_sigma}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        for key, m in (extra_modes or {}).items():
            if m not in ("bilinear", "nearest"):
                raise ValueError(f"extra_modes[{key!r}] must be 'bilinear' or 'nearest', got {m!r}")
        self.size = _pair(size)
        self.scale, self.ratio, self.flip_p = tuple(scale), tuple(ratio), flip_p
        self.jitter = (brightness, contrast, saturation, hue)
        self.jitter_p, self.gray_p, self.blur_p = jitter_p, gray_p, blur_p
        self.blur_sigma, self.blur_kernel_frac = tuple(blur_sigma), blur_kernel_frac
        self.mean, self.std = (list(mean), list(std)) if mean is not None else (None, None)
        self.mv_keys = frozenset(mv_keys)
        self.mv_faithful, self.mv_cell_size = mv_faithful, mv_cell_size
        self.extra_sizes = dict(extra_sizes or {})
        self.extra_modes = dict(extra_modes or {})
        self.antialias = antialias
        self.crop_mode, self.resize_short = crop_mode, resize_short
        self.rotation, self.jitter_one_of = float(rotation), jitter_one_of

    def geometric(
        self,
        x: Tensor,
        extras: Mapping[str, Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, dict[str, Tensor], CropParams, Tensor]:
        """Crop, resize, flip (and rotate) the clips and their extras.

        Returns:
            ``(x, extras, crop, angle)``: angle (B,) in degrees (zeros without rotation).
        """
        _check_rgb(x)
        bsz, dev = x.shape[0], x.device
        if self.crop_mode == "fixed":
            crop = sample_fixed_crop_params(
                bsz, x.shape[-2:], self.size, self.resize_short, flip_p=self.flip_p, generator=generator, device=dev
            )
        else:
            crop = sample_crop_params(
                bsz, x.shape[-2:], scale=self.scale, ratio=self.ratio, flip_p=self.flip_p, generator=generator, device=dev
            )
        if self.rotation > 0:
            angle = self.rotation * (2.0 * _rand((bsz,), generator, dev) - 1.0)
            x = rotated_crop(x, crop, angle, self.size)
        else:
            angle = torch.zeros(bsz, device=dev)
            x = resized_crop(x, crop, self.size, antialias=self.antialias)
        out: dict[str, Tensor] = {}
        for key, v in (extras or {}).items():
            if v.shape[0] != bsz:
                raise ValueError(f"extra {key!r} has batch {v.shape[0]}, clips have {bsz}")
            size = self.extra_sizes.get(key, self.size)
            mode = self.extra_modes.get(key, "bilinear")
            if key in self.mv_keys:
                if self.rotation > 0:
                    raise ValueError("rotation is not supported for motion-vector extras")
                out[key] = transform_motion_vectors(
                    v,
                    crop,
                    size,
                    faithful=self.mv_faithful,
                    value_hw=self.size,
                    cell_size=self.mv_cell_size,
                    antialias=self.antialias,
                )
            elif self.rotation > 0:
                out[key] = rotated_crop(v, crop, angle, size, mode=mode)
            else:
                out[key] = resized_crop(v, crop, size, mode=mode, antialias=self.antialias)
        return x, out, crop, angle

    def colour(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ColorJitterParams, Tensor, Tensor]:
        """Colour jitter, grey, blur and the optional normalisation of (already cropped) clips.

        Returns:
            ``(x, jitter, grayscale, blur_sigma)``.
        """
        _check_rgb(x)
        bsz, dev = x.shape[0], x.device
        jit = sample_color_jitter_params(bsz, *self.jitter, p=self.jitter_p, generator=generator, device=dev)
        if self.jitter_one_of:
            jit = one_of_jitter(jit, generator)
        x = apply_color_jitter(x, jit)
        gray = _rand((bsz,), generator, dev) < self.gray_p
        if self.gray_p > 0:
            x = apply_grayscale(x, gray)
        sigma = _sample_blur_sigma(bsz, self.blur_p, self.blur_sigma, generator, dev)
        if self.blur_p > 0:
            x = apply_gaussian_blur(x, sigma, blur_kernel_size(*self.size, self.blur_kernel_frac))
        if self.mean is not None:
            x = normalize(x, self.mean, self.std)
        return x, jit, gray, sigma

    def forward(
        self,
        x: Tensor,
        extras: Mapping[str, Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, dict[str, Tensor], AugmentParams]:
        """Augment a batch.

        Args:
            x: float RGB (B, 3, T, H, W) or (B, 3, H, W) in [0, 1].
            extras: aligned tensors, batch first, see the class docs.
            generator: seeded generator for reproducible parameters.

        Returns:
            ``(x_aug, extras_aug, params)``: x_aug (B, 3, T, *size), extras_aug a new
            dict with the same keys, params the :class:`AugmentParams` used.
        """
        x, out, crop, angle = self.geometric(x, extras, generator)
        x, jit, gray, sigma = self.colour(x, generator)
        return x, out, AugmentParams(crop, jit, gray, sigma, angle)

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, scale={self.scale}, jitter={self.jitter}, jitter_p={self.jitter_p}, "
            f"gray_p={self.gray_p}, blur_p={self.blur_p}, mv_faithful={self.mv_faithful}, "
            f"crop_mode={self.crop_mode!r}, rotation={self.rotation}, jitter_one_of={self.jitter_one_of}"
        )
