"""The compiled rasteriser gives exactly the numpy rasteriser's int16 fields."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.videos import X264_BFRAMES, moving_square_frames, write_video

from vssl.io.mv import raster as mvraster
from vssl.io.mv.raster import PYAV_MV_DTYPE, rasterise_batch_int16
from vssl.io.video.decode_mvx import iter_frames_mvextractor
from vssl.io.video.decode_pyav import iter_frames_pyav
from vssl.io.video.frames import DecodeStats

pytestmark = pytest.mark.skipif(mvraster.kernel() is None, reason="numba not installed")


def random_frame(rng, gh, gw, n, both_dirs: bool, align: int) -> np.ndarray:
    """An (n, 10) mvextractor-style array of random blocks, some reaching past the edges."""
    H, W = gh * 4, gw * 4
    sizes = np.array([4, 8, 16])
    sizes = sizes[sizes >= align]
    w = rng.choice(sizes, n)
    h = rng.choice(sizes, n)
    left = rng.integers(-1, W // align + 1, n) * align
    top = rng.integers(-1, H // align + 1, n) * align
    src = rng.choice([-1, 1], n) if both_dirs else -np.ones(n, int)
    mx = rng.integers(-300, 300, n)
    my = rng.integers(-300, 300, n)
    mx[rng.random(n) < 0.2] = 0  # FFmpeg's (0, 0) fillers
    my[mx == 0] = 0
    scale = rng.choice([0, 2, 4], n)
    rows = np.stack([src, w, h, left, top, left + w // 2, top + h // 2, mx, my, scale], 1)
    return rows.astype(np.int32)


@pytest.mark.parametrize("align", [4, 8, 16])
@pytest.mark.parametrize("both_dirs", [False, True])
def test_same_values_as_numpy_on_random_blocks(align, both_dirs):
    rng = np.random.default_rng(align + 10 * both_dirs)
    gh, gw = 17, 23  # odd grid: blocks hang over the right and bottom edges
    frames = []
    for i in range(40):
        if i % 7 == 3:
            frames.append((None, 1, 1))  # an I-frame
            continue
        # one block list per direction, as a decoder exports them (no overlap within one)
        arr = random_frame(rng, gh, gw, int(rng.integers(1, 60)), both_dirs, align)
        frames.append((arr, int(rng.integers(1, 4)), int(rng.integers(1, 4))))
    want = rasterise_batch_int16(frames, (gh, gw))
    got = mvraster.rasterise_int16(frames, (gh, gw))
    # overlapping blocks of one direction (random data, not a real decoder): numpy and the
    # kernel may keep different ones, so compare only cells covered by at most one block
    single = np.ones(want.shape[:3], bool)
    for f, (arr, _, _) in enumerate(frames):
        if arr is None:
            continue
        for d in (-1, 1):
            cnt = np.zeros((gh, gw), int)
            for s, w, h, _, _, x, y, *_ in arr[arr[:, 0] == d]:
                l, t = (x - w // 2) // 4, (y - h // 2) // 4
                cnt[max(t, 0) : max(t + h // 4, 0), max(l, 0) : max(l + w // 4, 0)] += 1
            single[f] &= cnt <= 1
    assert single.mean() > 0.3
    np.testing.assert_array_equal(got[single], want[single])
    assert got.dtype == np.int16 and got.shape == (40, gh, gw, 2)


@pytest.mark.parametrize("decoder", ["mvextractor", "pyav"])
def test_same_values_as_numpy_on_decoded_bframes(tmp_path, decoder):
    """Real decoder output (both decoders' array layouts): P- and B-frames, both directions, fillers."""
    frames, _ = moving_square_frames(n=40, size=(96, 64), speed=(3, 1))
    p = write_video(tmp_path / "b.mp4", frames, options=X264_BFRAMES)
    it = iter_frames_mvextractor if decoder == "mvextractor" else iter_frames_pyav
    batch, types = [], set()
    for fr in it(str(p), DecodeStats()):
        types.add(fr.code)
        if decoder == "pyav" and fr.mvs is not None:
            assert fr.mvs.dtype == PYAV_MV_DTYPE  # the layout warm_up() compiles for
        batch.append((fr.mvs, 1 + len(batch) % 3, 1 + len(batch) % 2))
    assert types == {0, 1, 2}
    want = rasterise_batch_int16(batch, (16, 24))
    got = mvraster.rasterise_int16(batch, (16, 24))
    assert np.abs(want).sum() > 0
    np.testing.assert_array_equal(got, want)


def test_pyav_structured_vectors_and_no_vectors():
    av = pytest.importorskip("av")  # noqa: F841
    dt = np.dtype([("source", "<i4"), ("w", "u1"), ("h", "u1"), ("src_x", "<i2"), ("src_y", "<i2"),
                   ("dst_x", "<i2"), ("dst_y", "<i2"), ("flags", "<u8"), ("motion_x", "<i4"),
                   ("motion_y", "<i4"), ("motion_scale", "<u2")])
    a = np.zeros(2, dt)
    a["source"] = [-1, 1]
    a["w"] = a["h"] = 16
    a["dst_x"], a["dst_y"] = [8, 24], [8, 8]
    a["motion_x"], a["motion_y"], a["motion_scale"] = [-8, 4], [0, 4], [4, 4]
    frames = [(a, 1, 2), (None, 1, 1)]
    got = mvraster.rasterise_int16(frames, (4, 8))
    np.testing.assert_array_equal(got, rasterise_batch_int16(frames, (4, 8)))
    assert (got[0, :, :4] == [8, 0]).all()  # past ref, -motion: +2 px right = 8 quarter-pel
    assert (got[0, :, 4:] == [2, 2]).all()  # future ref 2 frames ahead: turned round, halved
    assert not got[1].any()


def test_fallback_without_numba(monkeypatch):
    monkeypatch.setattr(mvraster, "_KERNEL", [None])
    a = np.array([[-1, 16, 16, 0, 0, 8, 8, -4, 0, 4]], np.int32)
    np.testing.assert_array_equal(mvraster.rasterise_int16([(a, 1, 1)], (4, 4)),
                                  rasterise_batch_int16([(a, 1, 1)], (4, 4)))


def test_kernel_failure_falls_back_to_numpy(monkeypatch):
    def broken(*args):
        raise TypeError("no matching definition")

    monkeypatch.setattr(mvraster, "_KERNEL", [broken])
    a = np.array([[-1, 16, 16, 0, 0, 8, 8, -4, 0, 4]], np.int32)
    with pytest.warns(RuntimeWarning, match="numpy"):
        got = mvraster.rasterise_int16([(a, 1, 1)], (4, 4))
    np.testing.assert_array_equal(got, rasterise_batch_int16([(a, 1, 1)], (4, 4)))
    assert mvraster._KERNEL == [None]


def test_warm_up_compiles_both_layouts():
    mvraster.warm_up()
    assert len(mvraster.kernel().signatures) >= 2
