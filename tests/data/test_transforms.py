from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch.overrides import TorchFunctionMode

from vssl.data.transforms import (
    ClipAugment,
    ColorJitterParams,
    CropParams,
    apply_color_jitter,
    apply_gaussian_blur,
    apply_grayscale,
    blur_kernel_size,
    center_crop_clip,
    center_crop_params,
    color_jitter,
    gaussian_blur,
    normalize,
    random_grayscale,
    resized_crop,
    sample_color_jitter_params,
    sample_crop_params,
    to_float_clip,
    transform_motion_vectors,
)
from vssl.ops.be import be_mix, random_static_frame, sample_be_lambda
from vssl.ops.dsm import local_disturbance
from vssl.ops.fame import derangement, fame_merge, threshold_top_fraction


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread is faster and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _params(boxes, flip, in_hw) -> CropParams:
    return CropParams(torch.tensor(boxes, dtype=torch.float32), torch.tensor(flip), in_hw)


def _square_clip(b=3, t=4, h=40, w=48):
    """Clips of black frames with a white square (different per clip), and its mask."""
    mask = torch.zeros(b, 1, 1, h, w)
    for i in range(b):
        y0, x0 = 5 + 3 * i, 8 + 5 * i
        mask[i, :, :, y0 : y0 + 14, x0 : x0 + 12] = 1.0
    x = mask.expand(b, 3, t, h, w).clone()
    return x, mask


def _no_colour(**kw) -> ClipAugment:
    return ClipAugment(jitter_p=0.0, gray_p=0.0, blur_p=0.0, **kw)


# ------------------------------------------------------------------ layout


def test_to_float_clip_layout_and_range():
    x = torch.randint(0, 256, (2, 5, 6, 7, 3), dtype=torch.uint8)
    y = to_float_clip(x)
    assert y.shape == (2, 3, 5, 6, 7) and y.dtype == torch.float32 and y.is_contiguous()
    assert torch.allclose(y, x.permute(0, 4, 1, 2, 3).float() / 255)
    assert to_float_clip(x[0]).shape == (3, 5, 6, 7)


# ------------------------------------------------------------------ crop parameters


def test_sample_crop_params_follow_the_rule():
    h, w = 64, 80
    p = sample_crop_params(500, (h, w), generator=_gen(1))
    x0, y0, x1, y1 = p.boxes.unbind(1)
    bw, bh = x1 - x0, y1 - y0
    assert p.boxes.dtype == torch.float32 and p.flip.dtype == torch.bool and p.in_hw == (h, w)
    assert torch.equal(p.boxes, p.boxes.round())
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= w).all() and (y1 <= h).all()
    area = bw * bh / (h * w)
    assert area.min() > 0.18 and area.max() <= 1.0
    aspect = bw / bh
    assert aspect.min() > 0.7 and aspect.max() < 1.43
    assert 0.4 < p.flip.float().mean() < 0.6
    # Offsets are spread over the whole free range.
    assert (x0 == 0).any() and (x1 == w).any()


def test_sample_crop_params_fallback_is_centre_crop():
    p = sample_crop_params(4, (10, 100), scale=(0.9, 1.0), generator=_gen(0))
    expected = torch.tensor([[43.0, 0.0, 56.0, 10.0]]).expand(4, 4)  # w = round(10 * 4/3)
    assert torch.equal(p.boxes, expected)


def test_seeded_generator_is_deterministic():
    x = torch.rand(3, 3, 4, 24, 32)
    aug = ClipAugment(16)
    a, _, pa = aug(x, generator=_gen(7))
    b, _, pb = aug(x, generator=_gen(7))
    c, _, _ = aug(x, generator=_gen(8))
    assert torch.equal(a, b) and torch.equal(pa.crop.boxes, pb.crop.boxes)
    assert not torch.equal(a, c)
    torch.manual_seed(3)
    d = local_disturbance(x)
    torch.manual_seed(3)
    assert torch.equal(d, local_disturbance(x))


# ------------------------------------------------------------------ resized crop


def test_unit_scale_crop_is_exact_and_flip_mirrors():
    x = torch.rand(2, 3, 4, 12, 16)
    p = _params([[3, 2, 11, 10], [0, 0, 8, 8]], [False, True], (12, 16))
    y = resized_crop(x, p, 8)
    assert y.shape == (2, 3, 4, 8, 8)
    assert torch.equal(y[0], x[0, ..., 2:10, 3:11])
    assert torch.equal(y[1], x[1, ..., 0:8, 0:8].flip(-1))


def test_resize_matches_torch_interpolate():
    x = torch.rand(2, 3, 4, 30, 40)
    full = _params([[0, 0, 40, 30]] * 2, [False, False], (30, 40))
    planes = x.reshape(2, 12, 30, 40)
    down = resized_crop(x, full, (12, 17))
    ref = F.interpolate(planes, size=(12, 17), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(down, ref.view(2, 3, 4, 12, 17), atol=1e-5)
    up = resized_crop(x, full, (45, 64), antialias=False)
    ref = F.interpolate(planes, size=(45, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(up, ref.view(2, 3, 4, 45, 64), atol=1e-5)


def test_matrix_and_grid_sample_paths_agree_when_upscaling():
    # Upscaling: the antialiased filter is plain bilinear, so both paths sample alike.
    x = torch.rand(3, 2, 3, 20, 24)
    p = _params([[2, 3, 14, 11], [0, 0, 24, 20], [5.5, 1.25, 17, 19]], [True, False, True], (20, 24))
    a = resized_crop(x, p, (22, 26), antialias=True)
    b = resized_crop(x, p, (22, 26), antialias=False)
    assert torch.allclose(a, b, atol=1e-5)


def test_resized_crop_any_channels_images_and_nearest():
    p = sample_crop_params(2, (20, 20), generator=_gen(2))
    for c in (1, 2, 3, 5):
        assert resized_crop(torch.rand(2, c, 3, 20, 20), p, 8).shape == (2, c, 3, 8, 8)
    img = torch.rand(2, 3, 20, 20, dtype=torch.float64)
    out = resized_crop(img, p, (6, 9))
    assert out.shape == (2, 3, 6, 9) and out.dtype == torch.float64
    labels = torch.randint(0, 4, (2, 1, 20, 20)).float()
    near = resized_crop(labels, p, 7, mode="nearest")
    assert set(near.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    with pytest.raises(ValueError):
        resized_crop(torch.rand(2, 3, 20), p, 8)


def test_mask_stays_aligned_with_the_clip():
    x, mask = _square_clip()
    aug = _no_colour(size=(20, 24), scale=(0.3, 1.0))
    for seed in range(5):
        xa, ea, params = aug(x, {"mask": mask}, generator=_gen(seed))
        assert ea["mask"].shape == (3, 1, 1, 20, 24)
        # Same box, same resampling: the clip's square and the mask coincide everywhere.
        assert torch.allclose(xa, ea["mask"].expand_as(xa), atol=1e-6)
        assert params.crop.flip.dtype == torch.bool


def test_low_resolution_mask_covers_the_same_field_of_view():
    x, mask = _square_clip(h=40, w=48)
    small = F.avg_pool2d(mask[:, :, 0], 2).unsqueeze(2)  # (B, 1, 1, 20, 24)
    aug = _no_colour(size=32, scale=(0.5, 1.0))
    xa, ea, _ = aug(x, {"mask": small}, generator=_gen(4))
    fg = xa[:, 0:1] > 0.5
    fg_small = ea["mask"].expand_as(fg) > 0.5
    iou = (fg & fg_small).sum() / (fg | fg_small).sum()
    assert iou > 0.85


def test_identical_frames_stay_identical():
    frame = torch.rand(4, 3, 1, 30, 36)
    x = frame.expand(4, 3, 6, 30, 36).contiguous()
    aug = ClipAugment(20, jitter_p=1.0, gray_p=0.5, blur_p=1.0)
    xa, _, params = aug(x, generator=_gen(5))
    assert xa.shape == (4, 3, 6, 20, 20)
    assert torch.allclose(xa, xa[:, :, :1].expand_as(xa), atol=1e-6)
    assert params.jitter.apply.all() and (params.blur_sigma > 0).all()
    d = local_disturbance(x, generator=_gen(5))
    assert torch.allclose(d, d[:, :, :1].expand_as(d), atol=1e-6)


def test_keyframes_and_mv_extras_through_clip_augment():
    x = torch.rand(2, 3, 4, 32, 40)
    extras = {"mv": torch.randn(2, 2, 4, 8, 10), "key": torch.rand(2, 3, 32, 40)}
    aug = ClipAugment(16, extra_sizes={"mv": 4}, mv_faithful=False, mv_cell_size=4)
    xa, ea, _ = aug(x, extras, generator=_gen(0))
    assert xa.shape == (2, 3, 4, 16, 16)
    assert ea["mv"].shape == (2, 2, 4, 4, 4) and ea["key"].shape == (2, 3, 16, 16)
    assert set(ea) == set(extras)


def test_center_crop():
    x = torch.rand(2, 3, 4, 11, 14)
    y = center_crop_clip(x, 8)
    assert torch.equal(y, x[..., 1:9, 3:11])
    p = center_crop_params(2, (11, 14), 8)
    assert torch.equal(resized_crop(x, p, 8), y)
    with pytest.raises(ValueError):
        center_crop_clip(x, 12)


# ------------------------------------------------------------------ motion vectors


def test_flip_negates_dx_only_when_corrected():
    mv = torch.zeros(2, 2, 3, 6, 8)
    mv[:, 0] = 3.0  # content moves right by 3 px per frame
    mv[:, 1] = torch.linspace(-1, 1, 6).view(6, 1)  # dy varies over rows
    p = _params([[0, 0, 8, 6]] * 2, [True, False], (6, 8))
    fixed = transform_motion_vectors(mv, p, (6, 8), faithful=False)
    faithful = transform_motion_vectors(mv, p, (6, 8), faithful=True)
    assert torch.allclose(fixed[0, 0], torch.full((3, 6, 8), -3.0))
    assert torch.allclose(fixed[1, 0], torch.full((3, 6, 8), 3.0))
    assert torch.allclose(faithful[:, 0], torch.full((2, 3, 6, 8), 3.0))
    assert torch.allclose(fixed[:, 1], mv[:, 1]) and torch.allclose(faithful[:, 1], mv[:, 1])


def test_resize_rescales_mv_values_only_when_corrected():
    mv = torch.zeros(2, 2, 2, 16, 32)  # field at source resolution 16 x 32
    mv[:, 0], mv[:, 1] = 2.0, -1.0
    # clip 0: crop 16 x 8 source pixels -> 32 x 32 output: dx x4, dy x2
    # clip 1: full frame -> 32 x 32 output: dx x1, dy x2; -> 8 x 8: dx x0.25, dy x0.5
    p = _params([[4, 0, 12, 16], [0, 0, 32, 16]], [False, False], (16, 32))
    fixed = transform_motion_vectors(mv, p, 32, faithful=False)
    assert torch.allclose(fixed[0, 0], torch.tensor(8.0)) and torch.allclose(fixed[0, 1], torch.tensor(-2.0))
    assert torch.allclose(fixed[1, 0], torch.tensor(2.0)) and torch.allclose(fixed[1, 1], torch.tensor(-2.0))
    small = transform_motion_vectors(mv, p, 8, faithful=False)
    assert torch.allclose(small[1, 0], torch.tensor(0.5)) and torch.allclose(small[1, 1], torch.tensor(-0.5))
    faithful = transform_motion_vectors(mv, p, 8, faithful=True)
    assert torch.allclose(faithful[:, 0], torch.tensor(2.0)) and torch.allclose(faithful[:, 1], torch.tensor(-1.0))
    # A coarse grid resized to 4 x 4 can still express values in pixels of a 16 x 16 clip.
    coarse = transform_motion_vectors(mv[:, :, :, ::4, ::4], p, 4, faithful=False, value_hw=16)
    assert torch.allclose(coarse[1, 0], torch.tensor(1.0))


def test_mv_grid_follows_the_box_on_a_coarse_grid():
    # A field whose dx equals the source x coordinate of each 4x4 cell's centre.
    h, w = 32, 48
    cells_x = (torch.arange(w // 4) * 4 + 2).float()
    mv = torch.zeros(1, 2, 1, h // 4, w // 4)
    mv[:, 0] = cells_x
    p = _params([[8, 0, 40, 32]], [True], (h, w))
    out = transform_motion_vectors(mv, p, (8, 8), faithful=True, cell_size=4)
    # Cell centres of the box, mirrored: 38, 34, ..., 10.
    assert torch.allclose(out[0, 0, 0, 0], torch.arange(38.0, 8.0, -4.0))


# ------------------------------------------------------------------ colour


def test_hue_brightness_saturation_match_torchvision():
    x = torch.rand(2, 3, 3, 9, 10)
    ones = torch.ones(2)
    for op, kwargs, ref in (
        (3, dict(hue=torch.tensor([0.1, -0.37])), lambda f, v: TF.adjust_hue(f, float(v))),
        (0, dict(brightness=torch.tensor([0.6, 1.3])), lambda f, v: TF.adjust_brightness(f, float(v))),
        (2, dict(saturation=torch.tensor([0.0, 1.4])), lambda f, v: TF.adjust_saturation(f, float(v))),
    ):
        base = dict(brightness=ones, contrast=ones, saturation=ones, hue=torch.zeros(2))
        base.update(kwargs)
        params = ColorJitterParams(**base, apply=torch.tensor([True, True]), order=(op,))
        y = apply_color_jitter(x, params)
        value = next(iter(kwargs.values()))
        for b in range(2):
            frames = x[b].permute(1, 0, 2, 3)  # (T, 3, H, W)
            expected = ref(frames, value[b]).permute(1, 0, 2, 3)
            # torchvision's luma uses 0.2989 for red, PIL and ITU-R 601 (here) 0.299.
            assert torch.allclose(y[b], expected, atol=2e-4), op


def test_contrast_uses_one_clip_mean_and_apply_flag():
    x = torch.rand(2, 3, 4, 5, 6)
    c = torch.tensor([0.5, 1.2])
    params = ColorJitterParams(torch.ones(2), c, torch.ones(2), torch.zeros(2), torch.tensor([True, False]), (1,))
    y = apply_color_jitter(x, params)
    gray_mean = (0.299 * x[0, 0] + 0.587 * x[0, 1] + 0.114 * x[0, 2]).mean()
    assert torch.allclose(y[0], (0.5 * x[0] + 0.5 * gray_mean).clamp(0, 1), atol=1e-6)
    assert torch.equal(y[1], x[1])


def test_jitter_params_ranges_and_outputs():
    p = sample_color_jitter_params(400, generator=_gen(3))
    for f in (p.brightness, p.contrast, p.saturation):
        assert f.min() >= 0.6 and f.max() <= 1.4
    assert p.hue.abs().max() <= 0.1 and sorted(p.order) == [0, 1, 2, 3]
    assert 0.7 < p.apply.float().mean() < 0.9
    assert sample_color_jitter_params(2, hue=0.0).order.count(3) == 0
    x = torch.rand(3, 3, 2, 8, 8)
    y = color_jitter(x, generator=_gen(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.equal(color_jitter(x, p=0.0), x)


def test_grayscale():
    x = torch.rand(2, 3, 2, 4, 5)
    y = apply_grayscale(x, torch.tensor([True, False]))
    ref = 0.299 * x[0, 0] + 0.587 * x[0, 1] + 0.114 * x[0, 2]
    assert torch.allclose(y[0], ref.expand(3, -1, -1, -1), atol=1e-6) and torch.equal(y[1], x[1])
    tv = TF.rgb_to_grayscale(x[0].permute(1, 0, 2, 3)).permute(1, 0, 2, 3)
    assert torch.allclose(y[0], tv.expand(3, -1, -1, -1), atol=2e-4)
    assert torch.equal(random_grayscale(x, p=0.0), x)
    g = random_grayscale(x, p=1.0)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])


def test_gaussian_blur_matches_torchvision_and_identity():
    x = torch.rand(2, 3, 3, 16, 20)
    k = blur_kernel_size(16, 20, 0.3)
    y = apply_gaussian_blur(x, torch.tensor([1.5, 0.0]), k)
    frames = x[0].permute(1, 0, 2, 3)
    ref = TF.gaussian_blur(frames, [k, k], [1.5, 1.5]).permute(1, 0, 2, 3)
    assert torch.allclose(y[0], ref, atol=1e-5)
    assert torch.equal(y[1], x[1])
    assert blur_kernel_size(112, 112) == 11
    assert torch.equal(gaussian_blur(x, p=0.0), x)
    assert gaussian_blur(torch.rand(2, 1, 10, 10), p=1.0, generator=_gen(0)).shape == (2, 1, 10, 10)


def test_normalize():
    x = torch.rand(2, 3, 2, 4, 4)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    y = normalize(x, mean, std)
    for c in range(3):
        assert torch.allclose(y[:, c], (x[:, c] - mean[c]) / std[c])
    assert normalize(x[:, :, 0], mean, std).shape == (2, 3, 4, 4)


def test_clip_augment_validates_hyperparameters():
    with pytest.raises(ValueError):
        ClipAugment(jitter_p=1.5)
    with pytest.raises(ValueError):
        ClipAugment(scale=(0.0, 1.0))
    with pytest.raises(ValueError):
        ClipAugment(mean=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError):
        ClipAugment()(torch.rand(2, 1, 4, 8, 8))


# ------------------------------------------------------------------ BE


def test_be_mix_formula():
    x = torch.rand(3, 3, 4, 5, 6)
    static = torch.rand(3, 3, 5, 6)
    out = be_mix(x, static, 0.25)
    for j in range(4):
        assert torch.allclose(out[:, :, j], 0.75 * x[:, :, j] + 0.25 * static)
    lam = torch.tensor([0.0, 0.1, 0.3])
    out = be_mix(x, static.unsqueeze(2), lam)
    for b in range(3):
        assert torch.allclose(out[b], (1 - lam[b]) * x[b] + lam[b] * static[b].unsqueeze(1))


def test_be_lambda_and_static_frame():
    lam = sample_be_lambda(_gen(0))
    assert isinstance(lam, float) and 0.0 <= lam < 0.3 and lam == sample_be_lambda(_gen(0))
    lams = sample_be_lambda(_gen(1), high=0.5, size=100)
    assert lams.shape == (100,) and lams.min() >= 0 and lams.max() < 0.5
    t = 7
    x = torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1).expand(50, 3, t, 2, 2) + 10 * torch.arange(50.0).view(
        50, 1, 1, 1, 1
    )
    s = random_static_frame(x, _gen(2))
    assert s.shape == (50, 3, 2, 2)
    k = s[:, 0, 0, 0] - 10 * torch.arange(50.0)  # which frame each clip gave
    assert ((k >= 0) & (k < t) & (k == k.round())).all() and len(k.unique()) > 3
    assert torch.equal(s, x[torch.arange(50), :, k.long()])


# ------------------------------------------------------------------ DSM


def test_local_disturbance_warps_locally_and_smoothly():
    x = torch.rand(4, 3, 3, 32, 32)
    y = local_disturbance(x, generator=_gen(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (y - x).abs().mean() > 0.01
    none = local_disturbance(x, n_warps=(0, 0), generator=_gen(0))
    assert torch.allclose(none, x, atol=1e-5)
    # A smooth ramp stays a smooth, monotone ramp: the warp does not fold.
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 1, 32).expand(4, 1, 2, 32, 32).contiguous()
    warped = local_disturbance(ramp, strength=1.0, generator=_gen(1), padding_mode="border")
    assert (warped.diff(dim=-1) > -1e-6).all()


# ------------------------------------------------------------------ FAME


def test_derangement_has_no_fixed_points():
    for n in (2, 3, 8):
        for seed in range(20):
            p = derangement(n, _gen(seed))
            assert sorted(p.tolist()) == list(range(n))
            assert (p != torch.arange(n)).all()
    assert derangement(1).tolist() == [0]


def test_fame_merge_formula():
    x = torch.rand(4, 3, 5, 6, 7)
    mask = (torch.rand(4, 1, 1, 6, 7) > 0.5).float()
    perm = torch.tensor([2, 3, 1, 0])
    out = fame_merge(x, mask, perm)
    for b in range(4):
        assert torch.allclose(out[b], mask[b] * x[b] + (1 - mask[b]) * x[perm[b]])
    mask_t = (torch.rand(4, 1, 5, 6, 7) > 0.5).float()
    out = fame_merge(x, mask_t, generator=_gen(0))
    used = derangement(4, _gen(0))
    assert torch.equal(out, mask_t * x + (1 - mask_t) * x[used])
    assert torch.equal(fame_merge(x, mask[:, :, 0], perm), fame_merge(x, mask, perm))


def test_threshold_top_fraction_count_and_ties():
    score = torch.rand(3, 1, 10, 13)
    for beta in (0.0, 0.1, 0.5, 0.77, 1.0):
        m = threshold_top_fraction(score, beta)
        k = int(beta * 130)
        assert m.shape == score.shape and (m.sum(dim=(1, 2, 3)) == k).all()
        if 0 < k < 130:
            flat, mf = score.view(3, -1), m.view(3, -1).bool()
            lowest_in = torch.where(mf, flat, torch.full_like(flat, 2.0)).amin(1)
            highest_out = torch.where(mf, torch.full_like(flat, -1.0), flat).amax(1)
            assert (lowest_in > highest_out).all()
    flat = torch.ones(2, 4, 5)  # all tied: the first k pixels in row-major order
    m = threshold_top_fraction(flat, 0.5)
    assert m.shape == (2, 4, 5) and torch.equal(m.view(2, -1)[:, :10], torch.ones(2, 10))
    assert m.sum() == 20
    with pytest.raises(ValueError):
        threshold_top_fraction(score, 1.5)


# ------------------------------------------------------------------ no per-frame loops


class _CountOps(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, e: ClipAugment(8)(x, e, generator=_gen(0)),
        lambda x, e: local_disturbance(x, generator=_gen(0)),
        lambda x, e: be_mix(x, random_static_frame(x, _gen(0)), 0.2),
        lambda x, e: fame_merge(x, (x[:, :1] > 0.5).float(), torch.tensor([1, 0])),
    ],
)
def test_op_count_does_not_grow_with_frames(fn):
    counts = []
    for t in (2, 8):
        x = torch.rand(2, 3, t, 12, 12)
        extras = {"mv": torch.rand(2, 2, t, 6, 6), "mask": torch.rand(2, 1, t, 12, 12)}
        with _CountOps() as mode:
            fn(x, extras)
        counts.append(mode.calls)
    assert counts[0] == counts[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_generator_gives_same_result_on_gpu():
    x = torch.rand(2, 3, 4, 24, 32)
    aug = ClipAugment(16)
    cpu, _, pc = aug(x, generator=_gen(1))
    gpu, _, pg = aug(x.cuda(), generator=_gen(1))
    assert torch.equal(pc.crop.boxes, pg.crop.boxes.cpu())
    assert torch.allclose(cpu, gpu.cpu(), atol=2e-3)


def test_geometric_then_colour_is_forward():
    aug = ClipAugment(16)
    x = torch.rand(3, 3, 4, 20, 26)
    y, _, params = aug(x, generator=_gen(3))
    g = _gen(3)
    geo, _, crop, _ = aug.geometric(x, generator=g)
    y2, jit, gray, sigma = aug.colour(geo, generator=g)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(params.crop.boxes, crop.boxes)


def test_fixed_crop_keeps_the_scale_of_the_resized_frame():
    """DSM / BE reference: Resize(128) (short side) then RandomCrop(112): no scale change."""
    from vssl.data.transforms import sample_fixed_crop_params

    p = sample_fixed_crop_params(64, (64, 80), 28, 32, generator=_gen(0))
    w, h = p.boxes[:, 2] - p.boxes[:, 0], p.boxes[:, 3] - p.boxes[:, 1]
    torch.testing.assert_close(w, torch.full((64,), 56.0))  # 28 resized pixels = 56 source pixels
    torch.testing.assert_close(h, torch.full((64,), 56.0))
    assert p.boxes[:, 0].min() >= 0 and p.boxes[:, 2].max() <= 80 and p.boxes[:, 3].max() <= 64
    assert not p.flip.any() and len(set(p.boxes[:, 0].tolist())) > 1
    with pytest.raises(ValueError, match="larger"):
        sample_fixed_crop_params(1, (64, 80), 40, 32)


def test_rotated_crop_matches_resized_crop_at_zero_and_rot90_at_ninety():
    from vssl.data.transforms import rotated_crop

    x = torch.rand(2, 3, 2, 16, 16)
    box = _params([[0, 0, 16, 16], [4, 2, 12, 10]], [False, True], (16, 16))
    zero = rotated_crop(x, box, torch.zeros(2), 8)
    torch.testing.assert_close(zero, resized_crop(x, box, 8, antialias=False))
    full = _params([[0, 0, 16, 16]] * 2, [False, False], (16, 16))
    r = rotated_crop(x, full, torch.full((2,), 90.0), 16)
    torch.testing.assert_close(r, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)  # counter-clockwise
    one = _params([[0, 0, 16, 16]], [False], (16, 16))
    corners = rotated_crop(torch.ones(1, 1, 16, 16), one, torch.tensor([45.0]), 16)
    assert corners[0, 0, 0, 0] == 0 and corners[0, 0, 8, 8] == 1  # black corners, as PIL's rotate


def test_one_of_jitter_changes_one_op_per_clip_and_reference_style_augment():
    from vssl.data.transforms import one_of_jitter
    from vssl.methods.common import make_augment

    p = one_of_jitter(sample_color_jitter_params(200, 0.5, 0.5, 0.25, 0.5, p=0.3, generator=_gen(1)), _gen(2))
    changed = torch.stack([p.brightness != 1, p.contrast != 1, p.saturation != 1, p.hue != 0], 1)
    assert (changed.sum(1) <= 1).all() and (changed.sum(1) == 1).float().mean() > 0.95
    assert p.apply.all() and (changed.sum(0) > 20).all()
    aug = make_augment(24, style="reference")
    x = torch.rand(2, 3, 3, 32, 40)
    y, _, params = aug(x, generator=_gen(0))
    assert y.shape == (2, 3, 3, 24, 24) and params.angle.abs().max() <= 10 and params.angle.abs().min() > 0
    with pytest.raises(ValueError, match="augment style"):
        make_augment(24, style="simclr")


def test_temporal_shuffle_permutes_frames_never_identity():
    from vssl.ops.dsm import temporal_shuffle

    x = torch.arange(4.0).view(1, 1, 4, 1, 1).expand(50, 3, 4, 2, 2).contiguous()
    y = temporal_shuffle(x, _gen(0))
    order = y[:, 0, :, 0, 0]
    assert (order.sort(1).values == torch.arange(4.0)).all()  # the same frames
    assert not (order == torch.arange(4.0)).all(1).any()  # in another order
    assert (y == y[:, :1]).all()  # same order for every channel and pixel
