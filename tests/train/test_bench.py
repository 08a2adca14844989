from __future__ import annotations

import pytest

from vssl.bench.pretrain import bench_pretrain

TINY = dict(steps=2, batch_size=4, device="cpu", clip_len=4, crop=24, load_size=(32, 40), workers=0, warmup=1,
            overrides={"data.stride": 2})


def test_bench_synthetic_only():
    r = bench_pretrain("simclr", "tiny", **TINY)
    assert r["synthetic_steps_per_s"] > 0 and r["cache_steps_per_s"] is None


def test_bench_with_cache(tiny_cache):
    r = bench_pretrain("moco", "tiny", cache=tiny_cache, params={"queue_size": 16}, **TINY)
    assert r["cache_steps_per_s"] > 0 and r["ratio"] > 0 and 0 <= r["data_wait"] <= 1  # tiny CPU runs: ratio is noise
    assert r["cache_clips_per_s"] == pytest.approx(4 * r["cache_steps_per_s"])
    assert r["frame_cache_mb"] == 0.0
    r = bench_pretrain("moco", "tiny", cache=tiny_cache, params={"queue_size": 16}, frame_cache_mb=16, **TINY)
    assert r["frame_cache_mb"] == 16 and r["cache_steps_per_s"] > 0


def test_bench_masked_modelling_reports_tokens(tiny_cache):
    r = bench_pretrain("videomae", "vit_tiny", cache=tiny_cache, **{**TINY, "crop": 32})
    # 4 frames x 32 x 32 at 2x8x8: 2 x 4 x 4 = 32 tokens, 14 of 16 positions masked -> 4 encoded
    assert (r["tokens_per_clip"], r["visible_tokens_per_clip"]) == (32, 4)
    assert r["synthetic_tokens_per_s"] == pytest.approx(32 * r["synthetic_clips_per_s"])
    assert r["cache_tokens_per_s"] == pytest.approx(32 * r["cache_clips_per_s"])
