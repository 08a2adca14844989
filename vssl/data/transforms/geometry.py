"""Crop, resize, flip and rotate clips and their aligned extras with per-clip boxes.

Geometry: a crop box is given in continuous pixel coordinates of the source frame
(pixel ``i`` covers ``[i, i + 1)``). Crop, resize and flip are one separable
resampling ``out = A_h @ x @ A_w^T`` with per-clip ``(H_out, H)`` and ``(W_out, W)``
matrices, i.e. two batched matmuls over all ``B * C * T`` planes. Bilinear weights
are the triangle filter, widened by the downscale factor when ``antialias`` (as
PIL and ``torchvision``'s ``antialias=True``), and renormalised at the borders (edge
replicate). A box that falls exactly on output pixels (scale 1) copies pixels
exactly, and the flip is free (reversed rows of ``A_w``). The same primitive does
the Gaussian blur (banded matrices with reflect padding baked in).
``antialias=False`` takes one ``F.grid_sample`` instead (same sample points).
With TF32 matmuls enabled on a GPU the resampling rounds values to about ``5e-4``
relative error (binary masks stay exact).

Motion vectors, "faithful vs corrected" (see ``RECIPES.md``, CMD):

* ``faithful=True`` (the CMD reference code): the vector *grid* is cropped,
  resized and flipped with the same box as the RGB clip; the *values* are left
  untouched (still source pixels, dx not negated on a flip).
* ``faithful=False`` (corrected): after the same grid transform the values are
  expressed in pixels of the output frame: ``dx *= W_out / box_w``,
  ``dy *= H_out / box_h`` (box size in source pixels) and ``dx`` is negated for a
  horizontally flipped clip.

Apply either before any clamping or normalisation of the vector values
(e.g. CMD's clamp to +-10 px and divide by 10), since the rescale is linear.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from vssl.data.transforms._resample import Size, _pair, _resample_matrix, _separable
from vssl.ops._batch import _check_batched, _gen_device, _planes


class CropParams(NamedTuple):
    """One crop box and flip per clip.

    Attributes:
        boxes: float32 (B, 4) ``x0, y0, x1, y1`` in pixels of the source frame
            (continuous coordinates, pixel ``i`` covers ``[i, i + 1)``).
        flip: bool (B,), True = mirror horizontally (after the crop).
        in_hw: ``(H, W)`` of the source frame the boxes refer to. A tensor of
            another resolution (a mask or a motion-vector grid covering the same
            field of view) gets the box scaled to its own grid.
    """

    boxes: Tensor
    flip: Tensor
    in_hw: tuple[int, int]


def sample_crop_params(
    batch_size: int,
    in_hw: Size,
    *,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> CropParams:
    """Random resized-crop boxes (torchvision's ``RandomResizedCrop`` rule) and flips.

    For each clip: up to 10 candidates with area fraction ~ U(scale) and log aspect
    ratio ~ U(log ratio), rounded to whole pixels; the first that fits is placed
    uniformly at random; if none fits, a centre crop at the nearest allowed aspect
    ratio. Vectorised over the batch with a fixed number of draws
    (``23 * batch_size``).

    Returns:
        :class:`CropParams` on ``device`` (default: the generator's device).
    """
    h_in, w_in = _pair(in_hw)
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"ratio must satisfy 0 < min <= max, got {ratio}")
    device = torch.device(device) if device is not None else _gen_device(generator)
    n, attempts = batch_size, 10
    gdev = _gen_device(generator)
    u = torch.rand((n, 2 * attempts + 3), generator=generator, device=gdev).to(torch.float64)
    area = h_in * w_in * (scale[0] + (scale[1] - scale[0]) * u[:, :attempts])
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, attempts : 2 * attempts]
    aspect = torch.exp(log_r)
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    ok = (w > 0) & (w <= w_in) & (h > 0) & (h <= h_in)
    first = ok.to(torch.int8).argmax(dim=1, keepdim=True)  # first fitting attempt
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)
    # Fallback (no attempt fits): centre crop at the nearest allowed aspect ratio.
    in_ratio = w_in / h_in
    if in_ratio < ratio[0]:
        fw, fh = w_in, int(round(w_in / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = int(round(h_in * ratio[1])), h_in
    else:
        fw, fh = w_in, h_in
    any_ok = ok.any(dim=1)
    w = torch.where(any_ok, w, torch.full_like(w, fw))
    h = torch.where(any_ok, h, torch.full_like(h, fh))
    y0 = torch.floor(u[:, -3] * (h_in - h + 1)).clamp(max=h_in - h)
    x0 = torch.floor(u[:, -2] * (w_in - w + 1)).clamp(max=w_in - w)
    y0 = torch.where(any_ok, y0, torch.full_like(y0, (h_in - fh) // 2))
    x0 = torch.where(any_ok, x0, torch.full_like(x0, (w_in - fw) // 2))
    boxes = torch.stack([x0, y0, x0 + w, y0 + h], dim=1).to(torch.float32)
    flip = u[:, -1] < flip_p
    return CropParams(boxes.to(device), flip.to(device), (h_in, w_in))


def center_crop_params(
    batch_size: int, in_hw: Size, crop_hw: Size, *, device: torch.device | str | None = None
) -> CropParams:
    """Deterministic centre boxes of size ``crop_hw`` (no flip), e.g. to centre-crop a
    clip and its motion vectors identically at evaluation with :func:`resized_crop`."""
    h_in, w_in = _pair(in_hw)
    ch, cw = _pair(crop_hw)
    if ch > h_in or cw > w_in:
        raise ValueError(f"crop {ch}x{cw} larger than the input {h_in}x{w_in}")
    y0, x0 = (h_in - ch) // 2, (w_in - cw) // 2
    box = torch.tensor([x0, y0, x0 + cw, y0 + ch], dtype=torch.float32, device=device)
    flip = torch.zeros(batch_size, dtype=torch.bool, device=device)
    return CropParams(box.expand(batch_size, 4).clone(), flip, (h_in, w_in))


def sample_fixed_crop_params(
    batch_size: int,
    in_hw: Size,
    out_hw: Size,
    resize_short: int,
    *,
    flip_p: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> CropParams:
    """Boxes of "resize the short side to ``resize_short``, then a random ``out_hw`` crop"
    (no scale or aspect change), as DSM's and BE's reference data pipeline
    (``Resize(128)`` then ``RandomCrop(112)``).

    The offset is a whole pixel of the resized frame, uniform over the valid range;
    the box is expressed in source pixels, so :func:`resized_crop` does resize and
    crop as one resampling. 3 draws per clip.
    """
    h_in, w_in = _pair(in_hw)
    ho, wo = _pair(out_hw)
    s = min(h_in, w_in) / float(resize_short)  # source pixels per resized pixel
    h_r, w_r = round(h_in / s), round(w_in / s)
    if ho > h_r or wo > w_r:
        raise ValueError(f"crop {ho}x{wo} larger than the resized frame {h_r}x{w_r}")
    device = torch.device(device) if device is not None else _gen_device(generator)
    u = torch.rand((batch_size, 3), generator=generator, device=_gen_device(generator)).to(torch.float64)
    y0 = torch.floor(u[:, 0] * (h_r - ho + 1)).clamp(max=h_r - ho) * s
    x0 = torch.floor(u[:, 1] * (w_r - wo + 1)).clamp(max=w_r - wo) * s
    boxes = torch.stack([x0, y0, x0 + wo * s, y0 + ho * s], dim=1).to(torch.float32)
    flip = u[:, 2] < flip_p
    return CropParams(boxes.to(device), flip.to(device), (h_in, w_in))


def rotated_crop(x: Tensor, params: CropParams, angle: Tensor, out_hw: Size, *, mode: str = "bilinear") -> Tensor:
    """Rotate each frame about its centre by ``angle`` (degrees, (B,), counter-clockwise),
    then crop its box, resize and flip it: one ``F.grid_sample``; area rotated in from
    outside the frame is 0 (black, as PIL's ``Image.rotate``). Same sample points as
    :func:`resized_crop` with ``antialias=False`` when the angle is 0.

    Args:
        x: float (B, C, T, H, W) or (B, C, H, W); boxes are scaled to its grid.
        mode: "bilinear" or "nearest".
    """
    _check_batched(x)
    ho, wo = _pair(out_hw)
    boxes = _grid_boxes(x, params, None)
    b, dev = x.shape[0], x.device
    h, w = x.shape[-2:]
    x0, y0, x1, y1 = boxes.unbind(1)
    i = torch.arange(wo, device=dev, dtype=torch.float32) + 0.5
    j = torch.arange(ho, device=dev, dtype=torch.float32) + 0.5
    i = torch.where(params.flip.to(dev)[:, None], wo - i[None, :], i[None, :])  # (B, wo)
    px = x0[:, None] + i * ((x1 - x0) / wo)[:, None]  # (B, wo) source x of each column
    py = y0[:, None] + j[None, :] * ((y1 - y0) / ho)[:, None]  # (B, ho)
    px, py = px[:, None, :].expand(b, ho, wo), py[:, :, None].expand(b, ho, wo)
    th = angle.to(device=dev, dtype=torch.float32)[:, None, None] * (math.pi / 180.0)
    cx, cy = w / 2.0, h / 2.0
    # Output point P of the rotated frame samples the source at R(-theta)(P - c) + c
    # (image y points down, so a counter-clockwise turn on screen is +theta here).
    dx, dy = px - cx, py - cy
    sx = cx + torch.cos(th) * dx - torch.sin(th) * dy
    sy = cy + torch.sin(th) * dx + torch.cos(th) * dy
    grid = torch.stack([2.0 * sx / w - 1.0, 2.0 * sy / h - 1.0], dim=-1)  # (B, ho, wo, 2)
    p = _planes(x)
    out = F.grid_sample(p, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=False)
    return out.reshape(*x.shape[:-2], ho, wo)


def _grid_boxes(x: Tensor, params: CropParams, cell_size: float | None) -> Tensor:
    """The crop boxes in coordinates of ``x``'s own pixel grid, (B, 4) float32."""
    boxes = params.boxes.to(device=x.device, dtype=torch.float32)
    if boxes.shape != (x.shape[0], 4):
        raise ValueError(f"params hold {tuple(boxes.shape)} boxes for a batch of {x.shape[0]}")
    if cell_size is not None:
        return boxes / float(cell_size)
    h_in, w_in = params.in_hw
    sx, sy = x.shape[-1] / w_in, x.shape[-2] / h_in
    return boxes * boxes.new_tensor([sx, sy, sx, sy])


def resized_crop(
    x: Tensor,
    params: CropParams,
    out_hw: Size,
    *,
    mode: str = "bilinear",
    antialias: bool = True,
    cell_size: float | None = None,
) -> Tensor:
    """Crop each clip's box, resize it to ``out_hw`` and flip it, for all frames at once.

    Args:
        x: float (B, C, T, H, W) or (B, C, H, W), any C (RGB, mask, motion vectors).
        params: boxes in source-frame pixels. If ``x`` has another resolution than
            ``params.in_hw`` the box is scaled to ``x``'s grid by the size ratio, or
            divided by ``cell_size`` when given (a grid whose cell ``g`` covers
            source pixels ``[g * cell_size, (g + 1) * cell_size)``, e.g. 4x4-pixel
            motion-vector blocks with a ``ceil(H / 4)`` grid).
        out_hw: output size (int = square).
        mode: "bilinear" (triangle filter) or "nearest" (for hard labels).
        antialias: widen the bilinear filter when downscaling (area-like, as PIL).
            False uses plain bilinear through one ``F.grid_sample`` (faster on a
            CPU, aliases when shrinking by more than about 1.5x).

    Returns:
        (B, C, T, H_out, W_out) or (B, C, H_out, W_out), ``x``'s dtype and device.
    """
    _check_batched(x)
    ho, wo = _pair(out_hw)
    boxes = _grid_boxes(x, params, cell_size)
    flip = params.flip.to(x.device)
    if mode == "bilinear" and not antialias:
        return _grid_resized_crop(x, boxes, flip, ho, wo)
    x0, y0, x1, y1 = boxes.unbind(1)
    a_w = _resample_matrix(x0, x1 - x0, x.shape[-1], wo, flip=flip, mode=mode, antialias=antialias)
    a_h = _resample_matrix(y0, y1 - y0, x.shape[-2], ho, mode=mode, antialias=antialias)
    return _separable(x, a_h, a_w)


def _grid_resized_crop(x: Tensor, boxes: Tensor, flip: Tensor, ho: int, wo: int) -> Tensor:
    """Plain bilinear resized crop + flip as one ``F.grid_sample`` (no antialias).

    Samples the same points as the matrix path with ``antialias=False`` (edge
    replicate) and is 2-4x faster on a CPU; float32 coordinates make it exact only
    to about 1e-6.
    """
    h, w = x.shape[-2:]
    j = torch.arange(wo, device=x.device, dtype=torch.float32) + 0.5
    i = torch.arange(ho, device=x.device, dtype=torch.float32) + 0.5
    cx = boxes[:, 0:1] + j[None, :] * ((boxes[:, 2] - boxes[:, 0]) / wo)[:, None]  # (B, W_out)
    cy = boxes[:, 1:2] + i[None, :] * ((boxes[:, 3] - boxes[:, 1]) / ho)[:, None]  # (B, H_out)
    cx = torch.where(flip[:, None], cx.flip(1), cx)
    gx = (2.0 * cx / w - 1.0)[:, None, :].expand(-1, ho, -1)
    gy = (2.0 * cy / h - 1.0)[:, :, None].expand(-1, -1, wo)
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype)  # (B, H_out, W_out, 2)
    out = F.grid_sample(_planes(x), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(*x.shape[:-2], ho, wo)


def transform_motion_vectors(
    mv: Tensor,
    params: CropParams,
    out_hw: Size,
    *,
    faithful: bool,
    value_hw: Size | None = None,
    cell_size: float | None = None,
    mode: str = "bilinear",
    antialias: bool = True,
) -> Tensor:
    """Crop, resize and flip a motion-vector field with the clip's boxes.

    Args:
        mv: float (B, 2, T, h, w) or (B, 2, h, w); channel 0 = dx, 1 = dy, in source
            pixels (or any unit proportional to them), on its own grid.
        params: the clip's :class:`CropParams` (boxes in source-frame pixels).
        out_hw: output grid size.
        faithful: True = CMD reference behaviour: only the grid is cropped, resized
            and flipped, the values are untouched. False = corrected: values are
            converted to output-frame pixels (``dx *= W_v / box_w``,
            ``dy *= H_v / box_h``) and dx is negated on a horizontal flip.
        value_hw: the frame size whose pixels the corrected values are expressed in
            (default ``out_hw``; pass the RGB output size when the field is resized
            to a coarser grid than the clip). Ignored when faithful.
        cell_size: source pixels per grid cell (see :func:`resized_crop`).
        mode, antialias: as :func:`resized_crop`.

    Returns:
        Same layout as ``mv`` with spatial size ``out_hw``.
    """
    if mv.shape[1] != 2:
        raise ValueError(f"motion vectors need 2 channels (dx, dy) in dim 1, got shape {tuple(mv.shape)}")
    out = resized_crop(mv, params, out_hw, mode=mode, antialias=antialias, cell_size=cell_size)
    if faithful:
        return out
    vh, vw = _pair(value_hw if value_hw is not None else out_hw)
    boxes = params.boxes.to(device=mv.device, dtype=torch.float32)
    sx = vw / (boxes[:, 2] - boxes[:, 0])
    sy = vh / (boxes[:, 3] - boxes[:, 1])
    sx = torch.where(params.flip.to(mv.device), -sx, sx)
    factor = torch.stack([sx, sy], dim=1).to(mv.dtype)  # (B, 2)
    return out * factor.view(mv.shape[0], 2, *([1] * (mv.ndim - 2)))


def center_crop_clip(x: Tensor, out: Size) -> Tensor:
    """Centre crop (no resampling) of (B, C, T, H, W), (B, C, H, W) or (C, T, H, W).

    Returns a view; the offset is ``(H - h) // 2`` as torchvision rounds it.
    """
    h, w = _pair(out)
    hi, wi = x.shape[-2:]
    if h > hi or w > wi:
        raise ValueError(f"crop {h}x{w} larger than the input {hi}x{wi}")
    top, left = (hi - h) // 2, (wi - w) // 2
    return x[..., top : top + h, left : left + w]
