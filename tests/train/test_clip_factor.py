"""``requires.clip_factor``: each view loads ``clip_len * clip_factor`` consecutive frames (at the stride)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vssl.data.dataset import ClipDataset
from vssl.data.requires import Requires
from vssl.data.sampling import SampleKey
from vssl.data.synthetic import synthetic_batch


def test_long_views_are_the_frames_of_the_span(tiny_cache):
    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={"views": 1, "clip_factor": 3})
    base = ClipDataset(tiny_cache, clip_len=12, stride=2, size=(32, 40), requires={"views": 1})
    assert ds.view_len == 12 and ds.span == 23  # (12 - 1) * 2 + 1
    s = ds[SampleKey(1, 0)]
    assert s["clips"].shape == (1, 12, 32, 40, 3)
    assert int(s["t0"][0]) + ds.span <= ds.videos[1].n_frames  # the whole long clip fits the video
    ref = base[SampleKey(1, 0)]  # same draw: the same frames as a 12-frame clip
    assert np.array_equal(s["clips"], ref["clips"]) and np.array_equal(s["t0"], ref["t0"])


def test_synthetic_batch_and_checks():
    b = synthetic_batch({"views": 2, "clip_factor": 2}, 3, 4, (16, 20))
    assert b["clips"].shape == (3, 2, 8, 16, 20, 3)
    for bad in (0, 1.5, "2"):
        with pytest.raises(ValueError, match="clip_factor must be an integer >= 1"):
            Requires.of({"clip_factor": bad})
    assert Requires.of(None).clip_factor == 1
    assert torch.equal(synthetic_batch(None, 2, 4, (16, 20))["clips"], synthetic_batch({"clip_factor": 1}, 2, 4, (16, 20))["clips"])
