"""FAME foreground masks: where in a clip the moving foreground is.

FAME (Ding et al., "Motion-aware Contrastive Video Representation Learning via
Foreground-background Merging", CVPR 2022, https://arxiv.org/abs/2109.15130)
pastes the foreground of a query clip onto the background of another video.
The foreground is found without any learning: motion seeds a colour model and
the colour model scores every pixel. The steps and constants below are those
of ``/work/shared/RECIPES.md`` ("FAME"), cited as [R1] .. [R6] for its numbered
steps and [R-code] for the details of the public FAME code listed there.

1. motion map: mean over time of ``|x[t+1] - x[t]|`` summed over R, G, B,
   values in [0, 1] [R1, R-code];
2. Gaussian blur, kernel ``k = int(0.1 * crop) // 2 * 2 + 1``, sigma ``k / 3``,
   then min-max normalised [R2];
3. seeds: the top 50 % of the motion map are foreground, the bottom 10 %
   background [R3];
4. colour model: histograms with 10 steps per colour coordinate (1 000 bins)
   of the seed pixels over the mean frame of the clip [R4, R-code], in the
   colour-wheel space of the public code [R-code]; the background histogram is
   +1 smoothed [R4];
5. per-pixel score ``p_fg / (p_fg + p_bg)``, blurred with the same kernel and
   min-max normalised again [R5];
6. the top ``beta`` (0.5) fraction of pixels is foreground: exactly
   ``int(beta * H * W)`` pixels are set [R6, R-code].

The mask is computed after crop and flip [R-code: "computed after crop and
flip"], so everything here works on the clip as the network sees it. Every
function is batched and device-agnostic: the same code runs on CPU and GPU,
histograms are built with one ``scatter_add_`` over flattened
``batch * bins`` indices, and there is no loop over samples.

What to expect [RECIPES]: on a synthetic clip with one moving square the
``beta = 0.5`` mask covers nearly all of the square's path but, as it must
hold half the image, its IoU with that path is capped at
``min(f, beta) / max(f, beta)`` for a true foreground fraction ``f`` (see
:func:`max_iou_at_beta`). On mostly static real scenes the motion seeds are
noise and the mask becomes a coarse colour region.

The colour image is the *mean* frame [R-code], so a fast mover is smeared
along its path there: the foreground histogram learns the colours of that
smear, and a motionless object of the mover's own colours is not
necessarily marked (given a motion map that isolates an object, a static
twin of its colours is marked: see the tests).

Choices RECIPES leaves open, made here:

* seed sets hold ``int(fraction * H * W)`` pixels; pixels tied at the cut
  (e.g. the many zero-motion pixels of a clean background) share the
  remaining weight equally instead of being picked by position;
* colour steps: ``round`` onto ``bins`` evenly spaced points spanning each
  coordinate's range (see :func:`colour_bins`); HSV is computed here in torch
  (same values as ``kornia.color.rgb_to_hsv``, hue in radians);
* blur borders are reflected (kornia's default for its Gaussian blur);
* final ties go to the earlier pixel in raster order (as a stable sort would), so the
  count is exact and the result the same on every device;
* degenerate clips: a static clip (constant motion map, e.g. ``T = 1`` or
  identical frames) has no motion to seed from; its score is a uniform 0.5
  (no colour prior is invented) and its mask is then the first
  ``int(beta * H * W)`` pixels in raster order. The same holds when the
  colour score itself is constant (a one-colour clip). No NaN anywhere.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from vssl.ops._batch import _gen_device

ColourSpace = Literal["wheel", "wheel_buggy", "hsv"]
"""The colour bins of :func:`colour_bins` (FAME's ``colour_space``)."""
COLOUR_SPACES = get_args(ColourSpace)

# Relative range under which a map counts as constant (float32 blur of a constant
# map is constant only up to a few ulps).
_FLAT_RTOL = 1e-5


# --------------------------------------------------------------------------- motion maps


def motion_map_from_frames(x: Tensor) -> Tensor:
    """Motion map of a clip from frame differences [R1, R-code].

    Args:
        x: clips ``(B, C, T, H, W)`` float in [0, 1] (RGB for ``C = 3``).

    Returns:
        ``(B, H, W)`` float32: the mean over ``t`` of ``sum_c |x[:, c, t+1] - x[:, c, t]|``,
        i.e. in [0, C]. A clip with ``T = 1`` has no difference: zeros.
    """
    _check_clip(x)
    b, _, t, h, w = x.shape
    if t < 2:
        return x.new_zeros((b, h, w), dtype=torch.float32)
    # One frame pair at a time: the same sum as a (B, C, T-1, H, W) difference
    # tensor, without allocating it (a loop over time, not over samples).
    out = torch.zeros((b, h, w), device=x.device, dtype=torch.float32)
    for i in range(t - 1):
        out += (x[:, :, i + 1].float() - x[:, :, i].float()).abs_().sum(1)
    return out / (t - 1)


def motion_map_from_mv(
    mv: Tensor, valid: Tensor | None = None, out_hw: tuple[int, int] | None = None
) -> Tensor:
    """Motion map from motion vectors: mean vector length over the frames that have vectors.

    An alternative to step 1 for clips whose motion vectors are cached (the
    units differ from :func:`motion_map_from_frames`, which does not matter:
    step 2 min-max normalises the map).

    Args:
        mv: ``(B, 2, T, h, w)`` float, ``(dx, dy)`` in pixels (divide the cache's
            quarter-pel int16 values by ``vssl.io.schema.MV_SCALE``).
        valid: which frames carry vectors, bool/0-1 ``(B, T)`` (the cache's
            ``mv_valid``; I-frames have none) or anything that broadcasts to
            ``(B, T, h, w)``. ``None``: every frame counts.
        out_hw: ``(H, W)`` to upsample to (bilinear, cell centres aligned as for
            a block grid, ``align_corners=False``). ``None``: keep ``(h, w)``.

    Returns:
        ``(B, H, W)`` float32 in pixels per frame. A sample without any valid
        frame gets zeros (a static map: its score falls back to uniform).
    """
    if mv.dim() != 5 or mv.shape[1] != 2:
        raise ValueError(f"mv must be (B, 2, T, h, w), got {tuple(mv.shape)}")
    b, _, t, h, w = mv.shape
    mag = mv.float().square().sum(1).sqrt()  # (B, T, h, w)
    if valid is None:
        m = mag.mean(1) if t > 0 else mag.new_zeros((b, h, w))
    else:
        v = valid.to(device=mv.device, dtype=torch.float32)
        if v.dim() == 2:
            v = v[:, :, None, None]
        v = v.expand(b, t, h, w)
        m = (mag * v).sum(1) / v.sum(1).clamp_min(1.0)
    if out_hw is not None and tuple(out_hw) != (h, w):
        m = F.interpolate(m[:, None], size=tuple(out_hw), mode="bilinear", align_corners=False)[:, 0]
    return m


# --------------------------------------------------------------------------- helpers


def blur_kernel_size(crop: int, blur_frac: float = 0.1) -> int:
    """Odd Gaussian kernel size ``int(blur_frac * crop) // 2 * 2 + 1`` [R2] (11 for crop 112)."""
    return int(blur_frac * crop) // 2 * 2 + 1


def gaussian_blur(m: Tensor, k: int, sigma: float | None = None) -> Tensor:
    """Separable Gaussian blur of maps ``(B, H, W)`` with an odd kernel ``k``, sigma ``k / 3`` [R2].

    Borders are reflected (replicated when the map is too small to reflect).
    """
    if k <= 1:
        return m
    sigma = k / 3.0 if sigma is None else sigma
    r = k // 2
    xs = torch.arange(k, device=m.device, dtype=torch.float32) - r
    g = torch.exp(-(xs**2) / (2.0 * sigma**2))
    g = g / g.sum()
    h, w = m.shape[-2:]
    mode = "reflect" if r < h and r < w else "replicate"
    y = F.pad(m[:, None].float(), (r, r, r, r), mode=mode)
    y = F.conv2d(y, g.view(1, 1, 1, k))
    y = F.conv2d(y, g.view(1, 1, k, 1))
    return y[:, 0]


def _minmax(m: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample min-max normalisation of ``(B, H, W)``; returns ``(normalised, flat)``.

    ``flat`` (B,) bool marks constant maps (range below ``_FLAT_RTOL`` of their
    magnitude); those come back as zeros rather than 0 / 0.
    """
    b = m.shape[0]
    flat_m = m.reshape(b, -1)
    lo = flat_m.min(1).values
    hi = flat_m.max(1).values
    rng = hi - lo
    flat = rng <= _FLAT_RTOL * torch.maximum(hi.abs(), lo.abs()).clamp_min(1e-12)
    flat = flat | (rng <= 0)
    scale = torch.where(flat, torch.ones_like(rng), rng)
    out = (m - lo[:, None, None]) / scale[:, None, None]
    out = torch.where(flat[:, None, None], torch.zeros_like(out), out)
    return out, flat


def rgb_to_hsv(rgb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """HSV of RGB images ``(B, 3, H, W)`` in [0, 1].

    Returns ``(h, s, v)`` each ``(B, H, W)``: hue in radians ``[0, 2 pi)`` (the
    kornia convention), saturation and value in [0, 1]. Grey pixels get hue 0,
    black pixels saturation 0.
    """
    r, g, b = rgb.unbind(1)
    maxc, argmax = rgb.max(1)  # ties go to the first channel: R, then G, then B
    minc = rgb.min(1).values
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h_r = torch.remainder((g - b) / safe, 6.0)
    h_g = (b - r) / safe + 2.0
    h_b = (r - g) / safe + 4.0
    h = torch.where(argmax == 0, h_r, torch.where(argmax == 1, h_g, h_b))
    h = torch.where(delta > 0, h, torch.zeros_like(h)) * (math.pi / 3.0)
    h = torch.remainder(h, 2.0 * math.pi)
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)),
                    torch.zeros_like(maxc))
    return h, s, maxc


def colour_bins(rgb: Tensor, bins: int = 10, colour_space: str = "wheel") -> Tensor:
    """Histogram bin of every pixel, ``(B, H, W)`` int64 in ``[0, bins**3)`` [R4, R-code].

    Colour spaces (HSV from :func:`rgb_to_hsv`, hue in radians):

    * ``"wheel"`` (default, the public code's space with hue read correctly):
      hue and saturation as a point on the colour wheel, ``(s cos h, s sin h)``
      in ``[-1, 1]^2``, plus value in ``[0, 1]``; each coordinate is rounded to
      one of ``bins`` evenly spaced steps spanning its range (ends included),
      ``round((c - lo) / (hi - lo) * (bins - 1))``.
    * ``"wheel_buggy"``: as ``"wheel"`` but with hue multiplied by ``2 pi``
      once more, as the public code does with kornia versions whose hue is
      already in radians; the hue then wraps about six times round the wheel
      [R-code: "a bug to offer as an option at most"].
    * ``"hsv"``: plain histogram of H, S, V, each cut into ``bins`` equal bins.
    """
    if colour_space not in COLOUR_SPACES:
        raise ValueError(f"colour_space must be one of {COLOUR_SPACES}, got {colour_space!r}")
    h, s, v = rgb_to_hsv(rgb.clamp(0.0, 1.0))
    n = bins - 1
    if colour_space == "hsv":
        q = [(c * bins).floor().clamp(0, n) for c in (h / (2.0 * math.pi), s, v)]
    else:
        if colour_space == "wheel_buggy":
            h = h * (2.0 * math.pi)
        cx, cy = s * torch.cos(h), s * torch.sin(h)
        q = [((cx + 1.0) * 0.5 * n).round(), ((cy + 1.0) * 0.5 * n).round(), (v * n).round()]
        q = [c.clamp(0, n) for c in q]
    q0, q1, q2 = (c.long() for c in q)
    return (q0 * bins + q1) * bins + q2


def _kth_largest(m: Tensor, count: int) -> Tensor:
    """The ``count``-th largest value of each row of ``(B, N)``, as ``(B, 1)`` (a selection, no sort)."""
    return torch.kthvalue(m, m.shape[1] - count + 1, dim=1, keepdim=True).values


def _rank_weights(m: Tensor, count: int, top: bool) -> Tensor:
    """Weights ``(B, N)`` selecting the ``count`` largest (``top``) or smallest values of each row.

    Pixels strictly beyond the cut get weight 1; pixels tied with the cut value
    share what is left of ``count`` equally, so the weights sum to ``count``
    exactly and ties (e.g. the many zero-motion pixels of a clean background)
    are not broken by position.
    """
    b, n = m.shape
    if count <= 0:
        return m.new_zeros((b, n))
    if count >= n:
        return m.new_ones((b, n))
    cut = _kth_largest(m, count) if top else torch.kthvalue(m, count, dim=1, keepdim=True).values
    beyond = (m > cut) if top else (m < cut)
    tied = m == cut
    n_beyond = beyond.sum(1, keepdim=True).float()
    n_tied = tied.sum(1, keepdim=True).float()
    share = (count - n_beyond) / n_tied  # n_tied >= 1: the cut value itself occurs
    return beyond.float() + tied.float() * share


def _check_clip(x: Tensor) -> None:
    if x.dim() != 5:
        raise ValueError(f"clips must be (B, C, T, H, W), got {tuple(x.shape)}")


# --------------------------------------------------------------------------- score and mask


def fame_score(
    x: Tensor,
    motion: Tensor | None = None,
    *,
    beta_fg_seed: float = 0.5,
    bg_seed: float = 0.1,
    bins: int = 10,
    colour_space: str = "wheel",
    blur_frac: float = 0.1,
) -> Tensor:
    """Soft FAME foreground score of every pixel (steps 1-5).

    Args:
        x: clips ``(B, 3, T, H, W)`` float RGB in [0, 1], after crop and flip
            (values outside [0, 1] are clamped for the colour model only).
        motion: motion map ``(B, H, W)`` or ``(B, 1, H, W)`` computed another way
            (e.g. :func:`motion_map_from_mv`); resized bilinearly when its size
            differs from ``(H, W)``. ``None``: :func:`motion_map_from_frames`.
        beta_fg_seed: fraction of pixels with the most motion that seed the
            foreground colour histogram (0.5 [R3]).
        bg_seed: fraction with the least motion that seed the background (0.1 [R3]).
        bins: steps per colour coordinate (10, i.e. 1 000 bins [R4]).
        colour_space: ``"wheel"`` (default), ``"wheel_buggy"`` or ``"hsv"``;
            see :func:`colour_bins`.
        blur_frac: kernel size as a fraction of the crop ``min(H, W)``
            (0.1 [R2]); sigma is ``k / 3``.

    Returns:
        ``(B, H, W)`` float32 in [0, 1], 1 = most foreground-like. Samples with
        a constant motion map (static clip, ``T = 1``) get 0.5 everywhere: no
        motion, no seeds, no colour model.

    Seed counts are ``int(fraction * H * W)`` pixels; pixels tied at the cut
    share the remaining weight (see :func:`_rank_weights`), so no position is
    favoured. Each histogram counts its seeds' bins; the background one gets
    +1 in every bin [R4]; both are normalised to probabilities.
    """
    _check_clip(x)
    if x.shape[1] != 3:
        raise ValueError(f"fame_score needs RGB clips (C = 3), got C = {x.shape[1]}")
    if not (0.0 < beta_fg_seed <= 1.0 and 0.0 < bg_seed <= 1.0):
        raise ValueError(f"seed fractions must be in (0, 1], got {beta_fg_seed}, {bg_seed}")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if colour_space not in COLOUR_SPACES:
        raise ValueError(f"colour_space must be one of {COLOUR_SPACES}, got {colour_space!r}")
    b, _, _, h, w = x.shape
    n = h * w

    # 1. motion map
    if motion is None:
        motion = motion_map_from_frames(x)
    else:
        if motion.dim() == 4 and motion.shape[1] == 1:
            motion = motion[:, 0]
        if motion.dim() != 3 or motion.shape[0] != b:
            raise ValueError(f"motion must be (B, H, W) with B = {b}, got {tuple(motion.shape)}")
        motion = motion.to(device=x.device, dtype=torch.float32)
        if motion.shape[-2:] != (h, w):
            motion = F.interpolate(motion[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]

    # 2. blur + min-max
    k = blur_kernel_size(min(h, w), blur_frac)
    m, static = _minmax(gaussian_blur(motion, k))
    m = m.reshape(b, n)

    # 3. seeds
    w_fg = _rank_weights(m, int(beta_fg_seed * n), top=True)
    w_bg = _rank_weights(m, int(bg_seed * n), top=False)

    # 4. colour model over the mean frame [R-code]
    nb = bins**3
    idx = colour_bins(x.float().mean(2), bins, colour_space).reshape(b, n)
    flat_idx = (idx + torch.arange(b, device=x.device)[:, None] * nb).reshape(-1)
    hist_fg = torch.zeros(b * nb, device=x.device).scatter_add_(0, flat_idx, w_fg.reshape(-1)).view(b, nb)
    hist_bg = torch.zeros(b * nb, device=x.device).scatter_add_(0, flat_idx, w_bg.reshape(-1)).view(b, nb)
    hist_bg = hist_bg + 1.0  # +1 smoothing of the background only [R4]
    p_fg = hist_fg / hist_fg.sum(1, keepdim=True).clamp_min(1e-12)
    p_bg = hist_bg / hist_bg.sum(1, keepdim=True)

    # 5. per-pixel score, blurred, normalised again; p_bg > 0 everywhere, so no 0 / 0
    pf = p_fg.gather(1, idx)
    score = pf / (pf + p_bg.gather(1, idx))
    score, flat_score = _minmax(gaussian_blur(score.view(b, h, w), k))
    uniform = static | flat_score
    return torch.where(uniform[:, None, None], torch.full_like(score, 0.5), score)


def mask_from_score(score: Tensor, beta: float = 0.5) -> Tensor:
    """Binary mask of the top ``beta`` fraction of each score map (step 6 [R6]).

    Args:
        score: ``(B, H, W)`` or ``(B, 1, H, W)``, e.g. from :func:`fame_score`
            (or a cached score map cropped with its clip [RECIPES: "threshold at
            beta at training time"]).
        beta: fraction of foreground pixels (0.5 [R6]).

    Returns:
        ``(B, 1, H, W)`` float32 of 0 / 1 with exactly ``int(beta * H * W)`` ones
        per sample [R-code]. Ties are broken as by a stable sort: among equal
        scores the pixel earlier in raster order (row-major) wins, on every device.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if score.dim() == 4 and score.shape[1] == 1:
        score = score[:, 0]
    if score.dim() != 3:
        raise ValueError(f"score must be (B, H, W), got {tuple(score.shape)}")
    b, h, w = score.shape
    count = int(beta * h * w)
    flat = score.reshape(b, -1).float()
    if count <= 0:
        return torch.zeros_like(flat).view(b, 1, h, w)
    # What a stable descending sort would pick, in O(N): everything above the
    # count-th largest value, then the tied pixels in raster order.
    cut = _kth_largest(flat, count)
    above = flat > cut
    tied = flat == cut
    need = count - above.sum(1, keepdim=True)
    mask = above | (tied & (tied.cumsum(1) <= need))
    return mask.float().view(b, 1, h, w)


def fame_mask(x: Tensor, *, beta: float = 0.5, motion: Tensor | None = None, **kw) -> Tensor:
    """FAME foreground mask of clips (steps 1-6).

    Args:
        x: clips ``(B, 3, T, H, W)`` float RGB in [0, 1], after crop and flip.
        beta: fraction of pixels marked foreground (0.5 [R6]).
        motion: optional motion map, see :func:`fame_score`.
        **kw: options of :func:`fame_score` (``beta_fg_seed``, ``bg_seed``,
            ``bins``, ``colour_space``, ``blur_frac``).

    Returns:
        ``(B, 1, H, W)`` float32 of 0 / 1, exactly ``int(beta * H * W)`` ones per
        sample; broadcasts over ``T`` as ``mask[:, :, None]`` for merging
        ``mask * clip + (1 - mask) * other``.
    """
    return mask_from_score(fame_score(x, motion, **kw), beta)


# --------------------------------------------------------------------------- evaluation


def union_over_time(masks: Tensor) -> Tensor:
    """Union of per-frame masks over time: ``(..., T, H, W)`` -> ``(..., H, W)`` bool.

    E.g. the true foreground of a clip, which a single FAME mask (one per clip)
    should cover.
    """
    if masks.dim() < 3:
        raise ValueError(f"masks must be (..., T, H, W), got {tuple(masks.shape)}")
    return (masks > 0.5 if masks.is_floating_point() else masks.bool()).any(-3)


def mask_iou(pred: Tensor, truth: Tensor) -> Tensor:
    """Intersection over union per sample.

    Args:
        pred, truth: binary masks with the batch first and the same number of
            elements per sample, e.g. ``(B, 1, H, W)`` and ``(B, H, W)``; float
            masks are read as ``> 0.5``.

    Returns:
        ``(B,)`` float32; 1 where both masks are empty.
    """
    b = pred.shape[0]
    p = _as_bool(pred).reshape(b, -1)
    t = _as_bool(truth).to(p.device).reshape(b, -1)
    if p.shape != t.shape:
        raise ValueError(f"masks differ in size: {tuple(pred.shape)} vs {tuple(truth.shape)}")
    inter = (p & t).sum(1).float()
    union = (p | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))


def max_iou_at_beta(truth_fraction: Tensor | float, beta: float) -> Tensor | float:
    """The best IoU a mask of fraction ``beta`` can reach against a truth of fraction ``f``.

    ``min(f, beta) / max(f, beta)``: the mask at best contains the whole truth
    (``f < beta``) or lies inside it (``f > beta``). RECIPES: 0.33 for
    ``f = 0.16``, ``beta = 0.5``.
    """
    if isinstance(truth_fraction, Tensor):
        f = truth_fraction.float()
        return f.clamp(max=beta) / f.clamp(min=beta).clamp_min(1e-12)
    return min(truth_fraction, beta) / max(truth_fraction, beta, 1e-12)


def _as_bool(m: Tensor) -> Tensor:
    return m > 0.5 if m.is_floating_point() else m.bool()


# --------------------------------------------------------------------------- merging


def derangement(n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
    """A uniformly random permutation of ``range(n)`` without fixed points (int64 (n,)).

    Rejection sampling on the generator's device (about e tries); ``n == 1`` gives
    ``[0]`` (no other clip exists).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    gdev = _gen_device(generator)
    target = torch.device(device) if device is not None else gdev
    if n == 1:
        return torch.zeros(1, dtype=torch.long, device=target)
    ar = torch.arange(n, device=gdev)
    for _ in range(1000):
        perm = torch.randperm(n, generator=generator, device=gdev)
        if not bool((perm == ar).any()):
            return perm.to(target)
    # Practically unreachable (probability ~ 0.63 ** 1000): one random n-cycle.
    order = torch.randperm(n, generator=generator, device=gdev)
    perm = torch.empty_like(order)
    perm[order] = torch.roll(order, -1)
    return perm.to(target)


def fame_merge(
    x: Tensor, mask: Tensor, perm: Tensor | None = None, *, generator: torch.Generator | None = None
) -> Tensor:
    """FAME: ``out = mask * x + (1 - mask) * x[perm]`` (foreground of each clip on the
    background of another clip of the batch).

    Args:
        x: (B, C, T, H, W).
        mask: (B, 1, T, H, W) or (B, 1, 1, H, W) (or (B, 1, H, W)), 1 = foreground;
            binary masks select exactly, soft masks blend.
        perm: int (B,) source of each clip's background; default a random
            :func:`derangement` (no clip keeps its own background when B > 1).
    """
    if x.ndim != 5:
        raise ValueError(f"x must be (B, C, T, H, W), got shape {tuple(x.shape)}")
    if mask.ndim == 4:
        mask = mask.unsqueeze(2)
    if mask.shape[0] != x.shape[0] or mask.shape[1] != 1 or mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not fit clips {tuple(x.shape)}")
    if perm is None:
        perm = derangement(x.shape[0], generator, device=x.device)
    mask = mask.to(x.dtype)
    return mask * x + (1.0 - mask) * x[perm.to(x.device)]


def threshold_top_fraction(score: Tensor, beta: float) -> Tensor:
    """Binary mask with exactly ``int(beta * H * W)`` ones per sample at the highest scores.

    Args:
        score: (B, 1, H, W) or (B, H, W) (any (B, ...): counted over all but dim 0).
        beta: fraction in [0, 1]; the count is ``int(beta * n)`` as in the FAME code.

    Returns:
        Same shape, ``score``'s float dtype (float32 for integer scores), values 0/1.
        Ties are broken towards the lower flat (row-major) index, identically on
        CPU and GPU (stable sort); NaN scores rank lowest.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    bsz = score.shape[0]
    flat = score.reshape(bsz, -1)
    n = flat.shape[1]
    k = int(beta * n)
    dtype = score.dtype if score.is_floating_point() else torch.float32
    out = torch.zeros(bsz, n, dtype=dtype, device=score.device)
    if k > 0:
        if flat.is_floating_point():
            flat = torch.where(torch.isnan(flat), torch.full_like(flat, -math.inf), flat)
        idx = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :k]
        out.scatter_(1, idx, 1.0)
    return out.view(score.shape)
