"""Pretext-task clips from the data layer: VCOP's tuples of consecutive clips (``view_gap``) and
Pace's sample rates with wrap-around (``speeds``, ``wrap``)."""

from __future__ import annotations

import numpy as np
import pytest

from vssl.data.dataset import ClipDataset
from vssl.data.requires import Requires
from vssl.data.sampling import SampleKey, tuple_span, wrap_indices
from vssl.data.synthetic import synthetic_batch
from vssl.errors import InputError


def test_wrap_indices_by_hand():
    # Pace's loop_load_rgb: the next frame is t + rate while it is a frame of the video, else frame 0
    assert wrap_indices(7, 5, 3, 12).tolist() == [7, 10, 0, 3, 6]
    assert wrap_indices(11, 4, 1, 12).tolist() == [11, 0, 1, 2]
    assert wrap_indices(0, 4, 2, 12).tolist() == [0, 2, 4, 6]  # no wrap needed
    assert wrap_indices(9, 3, 2, 12).tolist() == [9, 11, 0]  # 11 is the last frame, 13 is not
    assert tuple_span(16, 3, 8) == 64  # VCOP: 3 clips of 16 frames, 8 frames apart


def test_tuple_views_are_consecutive_clips(tiny_cache):
    req = {"views": 3, "view_gap": 2}
    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires=req)
    span = 3 * 2 + 1
    starts = set()
    for i in range(len(ds)):
        for e in range(3):
            s = ds[SampleKey(i, e)]
            t0 = s["t0"].tolist()
            assert t0 == [t0[0], t0[0] + span + 2, t0[0] + 2 * (span + 2)]  # in temporal order, gap 2
            assert t0[2] + span <= ds.videos[i].n_frames  # the whole tuple is inside the video
            assert s["clips"].shape == (3, 4, 32, 40, 3) and "speed" not in s
            starts.add(t0[0])
    assert len(starts) > 1
    # the clips are those frames: view 1 equals a plain clip read at its start
    plain = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={"views": 1})
    s = ds[SampleKey(0, 0)]
    frames = plain._frames(plain.videos[0].id, np.arange(4) * 2 + int(s["t0"][1]))
    assert np.array_equal(s["clips"][1], frames)


def test_short_videos_are_skipped_for_tuples(tiny_cache):
    with pytest.raises(InputError, match="no video of split 1 / train has the 67 frames a tuple needs"):
        ClipDataset(tiny_cache, clip_len=16, stride=1, size=(32, 40), requires={"views": 4, "view_gap": 1})


def test_speeds_and_wrap(tiny_cache):
    req = {"views": 1, "speeds": (1, 2, 3, 4), "wrap": True}
    ds = ClipDataset(tiny_cache, clip_len=8, stride=1, size=(32, 40), requires=req)
    seen, wrapped = set(), 0
    plain = ClipDataset(tiny_cache, clip_len=1, stride=1, size=(32, 40), requires={"views": 1})
    for i in range(len(ds)):
        for e in range(4):
            s = ds[SampleKey(i, e)]
            rate, t0, n = int(s["speed"][0]), int(s["t0"][0]), ds.videos[i].n_frames
            seen.add(rate)
            idx = wrap_indices(t0, 8, rate, n)
            wrapped += int(idx[-1] < idx[0])
            if e == 0:  # the frames are those of the wrapped indices
                assert np.array_equal(s["clips"][0], plain._frames(plain.videos[i].id, idx))
    assert seen == {1, 2, 3, 4} and wrapped > 0
    # without wrap a clip starts where it fits at its rate
    ds = ClipDataset(tiny_cache, clip_len=4, stride=1, size=(32, 40), requires={"views": 2, "speeds": [2, 3]})
    for i in range(len(ds)):
        s = ds[SampleKey(i, 1)]
        for t0, rate in zip(s["t0"].tolist(), s["speed"].tolist()):
            assert rate in (2, 3) and t0 + 3 * rate < ds.videos[i].n_frames


def test_requirement_values_are_checked():
    assert Requires.of({"speeds": [1, 2]}).speeds == (1, 2)
    for bad, msg in (({"speeds": [0, 1]}, "speeds must be integers >= 1"),
                     ({"speeds": []}, "speeds must be integers >= 1"),
                     ({"view_gap": -2}, "view_gap must be -1"),
                     ({"view_gap": 2, "speeds": (1, 2)}, "cannot be combined")):
        with pytest.raises(ValueError, match=msg):
            Requires.of(bad)
    b = synthetic_batch({"views": 2, "speeds": (1, 2, 3, 4)}, 6, 4, (16, 16))
    assert b["speed"].shape == (6, 2) and set(b["speed"].flatten().tolist()) <= {1, 2, 3, 4}
    assert "speed" not in synthetic_batch({"views": 2}, 2, 4, (16, 16))
