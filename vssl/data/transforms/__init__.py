"""Batched clip augmentation on any device, one set of random parameters per clip.

Layouts (all functions are batched; nothing loops over frames):

* clip batch: float ``(B, C, T, H, W)``, values in ``[0, 1]`` (RGB ``C = 3``);
* image batch: float ``(B, C, H, W)`` (keyframes, static frames, score maps);
* masks: ``(B, 1, T, H, W)``, ``(B, 1, 1, H, W)`` or ``(B, 1, H, W)``;
* motion-vector fields: float ``(B, 2, T, h, w)`` with channel 0 = dx, 1 = dy, in
  pixels of the *source frame* (any unit proportional to source pixels works, e.g.
  quarter-pel), on their own grid (``h x w`` need not equal ``H x W``).

Every random draw is one value (or a few) per clip, shared by all frames of the
clip and by its aligned extras. Random numbers are drawn on the generator's device
(CPU when ``generator`` is None, from torch's global CPU generator) and then moved
to the data's device, so a seeded CPU :class:`torch.Generator` gives the same
parameters whether the clips live on the CPU or a GPU, and a CUDA generator keeps
everything on the GPU. The number of draws of each function does not depend on
the data, so a seeded stream is reproducible.

Timings, one CPU core (best of 7, busy shared machine), 8 clips 3x16x128x171 ->
3x16x112x112: :class:`ClipAugment` 160 ms (50 clips/s; 124 ms with
``antialias=False``). Parts timed alone: resized crop 43 ms (grid_sample path 18 ms,
``roi_align`` with adaptive sampling 18 ms plus a flip pass), colour jitter 99 ms
(hue 72 ms; kornia's functional ops on the same tensors 126 ms, hue 105 ms),
blur 29 ms (a grouped conv 33 ms, kornia ``gaussian_blur2d`` 18 ms but needing a
``(B*T, C, H, W)`` copy and an extra dependency). Pure torch was kept.

The parts, one idea each: :mod:`.geometry` (crop boxes, resized and rotated crops,
motion-vector fields), :mod:`.colour` (jitter, grey, blur, normalisation),
:mod:`.augment` (:class:`ClipAugment`, the two in a row), :mod:`.layout` (uint8
frames to float clips) and :mod:`._resample` (the separable resampling they share).
"""

from __future__ import annotations

from vssl.data.transforms.augment import AugmentParams, ClipAugment
from vssl.data.transforms.colour import (
    ColorJitterParams,
    apply_color_jitter,
    apply_gaussian_blur,
    apply_grayscale,
    blur_kernel_size,
    color_jitter,
    gaussian_blur,
    normalize,
    one_of_jitter,
    random_grayscale,
    rgb_to_grayscale,
    sample_color_jitter_params,
)
from vssl.data.transforms.geometry import (
    CropParams,
    center_crop_clip,
    center_crop_params,
    resized_crop,
    rotated_crop,
    sample_crop_params,
    sample_fixed_crop_params,
    transform_motion_vectors,
)
from vssl.data.transforms.layout import to_float_clip

__all__ = [
    "AugmentParams",
    "ClipAugment",
    "ColorJitterParams",
    "CropParams",
    "apply_color_jitter",
    "apply_gaussian_blur",
    "apply_grayscale",
    "blur_kernel_size",
    "center_crop_clip",
    "center_crop_params",
    "color_jitter",
    "gaussian_blur",
    "normalize",
    "one_of_jitter",
    "random_grayscale",
    "resized_crop",
    "rgb_to_grayscale",
    "rotated_crop",
    "sample_fixed_crop_params",
    "sample_color_jitter_params",
    "sample_crop_params",
    "to_float_clip",
    "transform_motion_vectors",
]
