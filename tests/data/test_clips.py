"""vssl.data.clips and vssl.data.frames: the eval / finetune clips, their sampling, resize and crops."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vssl.data.frames import (
    cover_crop,
    crop_offsets,
    decode_frames,
    load_size,
    resize_frame,
    resize_short,
    short_side_hw,
    spatial_crops,
)
from vssl.data.sampling import (
    EpochBatchSampler,
    epoch_permutation,
    even_starts,
    fit_batch_size,
)
from vssl.errors import CacheError


def test_even_starts_evenly_spaced():
    assert even_starts(100, 16, 10).tolist() == [0, 9, 19, 28, 37, 47, 56, 65, 75, 84]
    assert even_starts(100, 16, 1).tolist() == [42]  # centred
    assert even_starts(10, 16, 3).tolist() == [0, 0, 0]  # shorter than a clip
    s = even_starts(57, 16, 4)
    assert s[0] == 0 and s[-1] == 57 - 16 and np.all(np.diff(s) > 0)


def test_crop_offsets_three_crops_along_the_long_side():
    assert crop_offsets(128, 171, 112, 1) == [(8, 29)]
    assert crop_offsets(128, 171, 112, 3) == [(8, 0), (8, 29), (8, 59)]
    assert crop_offsets(171, 128, 112, 3) == [(0, 8), (29, 8), (59, 8)]
    f = np.arange(2 * 6 * 9 * 1).reshape(2, 6, 9, 1)
    c = spatial_crops(f, 4, 3)
    assert c.shape == (3, 2, 4, 4, 1)
    np.testing.assert_array_equal(c[2], f[:, 1:5, 5:9])


def _frame(h, w, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("hw", [(64, 96), (96, 64), (30, 41), (40, 40), (128, 171)])
@pytest.mark.parametrize("short", [40, 64, 112])
def test_resize_short_is_the_one_resize_with_area_when_shrinking(hw, short):
    img = _frame(*hw)
    out = resize_short(img, short)
    assert min(out.shape[:2]) == short and out.dtype == np.uint8
    if min(hw) == short:
        assert out is img
        return
    s = short / min(hw)
    nh, nw = short_side_hw(*hw, short)
    assert (nh, nw) == (max(short, round(hw[0] * s)), max(short, round(hw[1] * s)))
    ref = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, resize_frame(img, (nh, nw)))


@pytest.mark.parametrize("src", [(64, 96), (96, 64), (20, 30), (40, 53), (128, 171)])
def test_cover_crop_covers_then_crops_the_centre(src):
    h, w = load_size(40)
    assert (h, w) == (40, 53) and load_size(128) == (128, 171)
    img = _frame(*src, seed=1)
    out = cover_crop(img, h, w)
    assert out.shape == (h, w, 3)
    ih, iw = src
    s = max(h / ih, w / iw)
    nh, nw = max(h, math.ceil(ih * s - 1e-6)), max(w, math.ceil(iw * s - 1e-6))
    big = img if (nh, nw) == (ih, iw) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1
                                                       else cv2.INTER_LINEAR)
    y, x = (nh - h) // 2, (nw - w) // 2
    np.testing.assert_array_equal(out, big[y:y + h, x:x + w])


def test_resize_frame_keeps_a_single_channel():
    assert resize_frame(_frame(10, 12, 1), (5, 6)).shape == (5, 6, 1)
    assert resize_short(_frame(10, 12, 1), 20).shape == (20, 24, 1)


def test_decode_frames_applies_fn_before_the_rgb_conversion():
    rgb = _frame(16, 24, seed=2)
    ok, jpg = cv2.imencode(".jpg", rgb[..., ::-1].copy())
    assert ok
    seen = []

    def fn(bgr):
        seen.append(bgr.flags["C_CONTIGUOUS"])
        return resize_frame(bgr, (8, 12))

    out = decode_frames([jpg.tobytes(), jpg], fn)
    assert out.shape == (2, 8, 12, 3) and seen == [True, True]
    ref = cv2.cvtColor(cv2.resize(cv2.imdecode(jpg, cv2.IMREAD_COLOR), (12, 8), interpolation=cv2.INTER_AREA),
                       cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(out[0], ref)
    with pytest.raises(CacheError, match="does not decode"):
        decode_frames([b"not a jpeg"])


@pytest.mark.parametrize("n,batch", [(10, 4), (3, 8), (8, 8)])
def test_finetune_epoch_batches_are_the_training_sampler(n, batch):
    """Finetuning orders an epoch as pretraining does: the seeded permutation, full batches, resumable."""
    bs = fit_batch_size(batch, n)
    sampler = EpochBatchSampler(n, bs, seed=7)
    sampler.set_epoch(2, 1)
    got = [[tuple(k) for k in b] for b in sampler]
    perm = epoch_permutation(n, 7, 2)
    want = [[(int(i), 2) for i in perm[b * bs:(b + 1) * bs]] for b in range(1, n // bs)]
    assert got == want and len(sampler) == len(want)
