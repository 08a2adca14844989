"""``requires.mv_window = "clip"`` (MGM): the motion vectors of the clip span itself."""

from __future__ import annotations

import numpy as np
import pytest

from vssl.data.dataset import ClipDataset, mv_to_load_size
from vssl.io import schema


def test_clip_window_vectors_are_the_clips_own(tiny_cache):
    req = {"views": 1, "mv": True, "mv_window": "clip"}
    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires=req)
    s = ds[(0, 0)]
    v = ds.videos[0]
    t0 = int(s["t0"][0])
    assert int(s["mv_t0"]) == t0  # the clip's first frame, not the future window after it
    span = ds.span  # 7 frames: every frame of the clip's span, the skipped ones too
    assert s["mv"].shape == (2, span, 8, 10)
    mv, valid = ds.cache.read_mv(v.id, t0, t0 + span)
    ref = mv_to_load_size(mv, valid, (v.height, v.width), (32, 40), (8, 10), mv_hw=schema.mv_hw(v.record))
    np.testing.assert_array_equal(s["mv"], ref)
    assert s["mv_valid"] == pytest.approx(float(valid.mean()))
    assert np.abs(s["mv"]).max() > 0  # the synth clip moves


def test_unknown_window_is_refused(tiny_cache):
    with pytest.raises(ValueError, match="mv_window must be one of future, clip"):
        ClipDataset(tiny_cache, clip_len=4, requires={"mv": True, "mv_window": "past"})
