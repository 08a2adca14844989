"""vssl.io.precomputed: reading CACHE/fame and CACHE/be, errors, staleness, pickling."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers.videos import X264_CANONICAL, moving_square_frames, write_video

from vssl.errors import CacheError, InputError
from vssl.io.precomputed import PrecomputeCache, window_starts
from vssl.preprocess.be import BeOptions
from vssl.preprocess.extract import ExtractOptions, extract
from vssl.preprocess.fame import FameOptions
from vssl.preprocess.precompute import RunOptions, precompute

RUN1 = RunOptions(workers=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """Two videos (40 and 20 frames, 96x64) and one too short for a window (12 frames)."""
    root = tmp_path_factory.mktemp("pc")
    (root / "in").mkdir()
    for name, n in (("a.mp4", 40), ("b.mp4", 20), ("short.mp4", 12)):
        fr, _ = moving_square_frames(n=n, size=(96, 64), speed=(2, 1), box=16)
        write_video(root / "in" / name, fr, options=X264_CANONICAL)
    extract(root / "in", root / "c", ExtractOptions(workers=1, min_frames=8, size=64), quiet=True)
    return root / "c"


def test_window_starts():
    assert window_starts(40, 16, 8).tolist() == [0, 8, 16, 24]
    assert window_starts(16, 16, 8).tolist() == [0]
    assert window_starts(15, 16, 8).tolist() == []
    assert window_starts(40, 16, 20).tolist() == [0, 20]


def test_missing_precompute_and_missing_cache(cache, tmp_path):
    with pytest.raises(CacheError, match=r"run `vssl precompute be .*` first"):
        PrecomputeCache(cache, "be")
    with pytest.raises(CacheError, match="cache not found"):
        PrecomputeCache(tmp_path / "nope", "fame")
    with pytest.raises(InputError, match="unknown precompute kind"):
        PrecomputeCache(cache, "dsm")


def test_fame_reader(cache):
    s = precompute(cache, FameOptions(), RUN1, quiet=True)
    assert (s.ok, s.failed) == (2, 1)
    with PrecomputeCache(cache, "fame") as p:
        assert p.videos == ["a.mp4", "b.mp4"] and "short.mp4" not in p and len(p) == 2
        assert p.window_starts("a.mp4").tolist() == [0, 8, 16, 24]
        assert p.window_starts("b.mp4").tolist() == [0]
        assert [p.window_index("a.mp4", t) for t in (0, 3, 4, 5, 12, 13, 100)] == [0, 0, 0, 1, 1, 2, 3]
        w = p.read_window("a.mp4", 9)
        assert w.dtype == np.uint8 and w.shape == (64, 96) and w.max() == 255 and w.min() == 0
        assert np.array_equal(p.read_window("a.mp4", 8), w)
        assert np.allclose(p.read_score("a.mp4", 9), w / 255.0)
        with pytest.raises(InputError, match="too short for a window"):
            p.read_window("short.mp4", 0)
        with pytest.raises(InputError, match="has no precomputed fame"):
            p.read_window("zzz.mp4", 0)
        # one handle per process: a pickled reader opens its own
        q = pickle.loads(pickle.dumps(p))
        assert np.array_equal(q.read_window("a.mp4", 24), p.read_window("a.mp4", 24))
        q.close()


def test_be_reader(cache):
    precompute(cache, BeOptions(k=3, window=8, stride=8), RUN1, quiet=True)
    with PrecomputeCache(cache, "be") as p:
        assert p.window_starts("a.mp4").tolist() == [0, 8, 16, 24, 32]
        assert p.window_starts("short.mp4").tolist() == [0]  # 12 frames: one window of 8
        st = p.read_window("a.mp4", 17)
        assert st.dtype == np.uint8 and st.shape == (3, 64, 96, 3)
        ts = p.static_frame_index("a.mp4", 17)
        assert ts.shape == (3,) and np.all((ts >= 16) & (ts < 24)) and np.all(np.diff(ts) > 0)
        with pytest.raises(InputError, match="fame"):
            p.read_score("a.mp4", 0)


def test_stale_precompute_is_refused(cache, tmp_path):
    import shutil

    c2 = tmp_path / "c"
    shutil.copytree(cache, c2)
    precompute(c2, FameOptions(), RUN1, force=True, quiet=True)
    m = json.loads((c2 / "manifest.json").read_text())
    m["videos"][0]["checksum"] = "0" * 32  # as if a.mp4 had been extracted again
    (c2 / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CacheError, match="--force"):
        PrecomputeCache(c2, "fame")
    with pytest.raises(CacheError, match="extracted again"):
        precompute(c2, FameOptions(), RUN1, quiet=True)
    precompute(c2, FameOptions(), RUN1, force=True, quiet=True)
    with PrecomputeCache(c2, "fame") as p:
        assert len(p) == 2
