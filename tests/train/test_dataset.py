from __future__ import annotations

import numpy as np
import pytest
import torch

from vssl.data.dataset import ClipDataset, collate, fill_invalid_mv, mv_to_load_size
from vssl.data.gpu_decode import decode_batch_on_device
from vssl.data.sampling import EpochBatchSampler, SampleKey
from vssl.errors import CacheError, InputError

ALL = {"views": 2, "neg_clip": True, "keyframe": True, "mv": True, "mv_len": 3, "mv_negatives": 2}


def test_sample_layout(tiny_cache):
    ds = ClipDataset(tiny_cache, "1", "train", clip_len=4, stride=2, size=(32, 40), requires=ALL)
    assert len(ds) == 9
    s = ds[SampleKey(0, 0)]
    assert s["clips"].shape == (2, 4, 32, 40, 3) and s["clips"].dtype == np.uint8
    assert s["neg"].shape == (4, 32, 40, 3)
    assert s["keyframe"].shape == (32, 40, 3)
    assert s["mv"].shape == (2, 3, 8, 10) and s["mv"].dtype == np.float16
    assert s["mv_neg"].shape == (2, 2, 3, 8, 10)
    assert s["t0"][0] != s["t0"][1]
    assert abs(int(s["neg_t0"]) - int(s["t0"][0])) > 2
    b = collate([ds[SampleKey(i, 0)] for i in range(3)])
    assert b["clips"].shape == (3, 2, 4, 32, 40, 3) and b["clips"].dtype == torch.uint8
    assert b["label"].tolist() == [ds.videos[i].label for i in range(3)]


def test_same_key_same_sample(tiny_cache):
    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={"neg_clip": True})
    a, b = ds[SampleKey(2, 5)], ds[SampleKey(2, 5)]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    starts = {tuple(ds[SampleKey(2, e)]["t0"]) for e in range(6)}
    assert len(starts) > 1  # other epochs, other clips


def test_workers_give_the_same_batches(tiny_cache):
    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={"views": 2})
    out = []
    for workers in (0, 2):
        s = EpochBatchSampler(len(ds), 4, seed=0)
        s.set_epoch(1)
        loader = torch.utils.data.DataLoader(ds, batch_sampler=s, num_workers=workers, collate_fn=collate)
        out.append([b["clips"] for b in loader])
    assert all(torch.equal(x, y) for x, y in zip(*out))


def test_gpu_decode_path_on_cpu(tiny_cache):
    """decode="gpu" returns JPEG bytes; decode_batch_on_device (here on the CPU) gives the same clips."""
    kw = dict(clip_len=4, stride=2, size=(32, 42), requires={"views": 2, "neg_clip": True})
    cpu = ClipDataset(tiny_cache, **kw)
    gpu = ClipDataset(tiny_cache, decode="gpu", **kw)
    keys = [SampleKey(i, 0) for i in range(2)]
    ref = collate([cpu[k] for k in keys])
    raw = collate([gpu[k] for k in keys])
    assert "clips_jpeg" in raw and len(raw["clips_jpeg_offsets"]) == 2 * 2 * 4 + 1
    assert raw["clips_jpeg"].dtype == torch.uint8 and raw["clips_jpeg"].dim() == 1
    dec = decode_batch_on_device(raw, (32, 42), "cpu")
    assert dec["clips"].shape == ref["clips"].shape and dec["neg"].shape == ref["neg"].shape
    assert (dec["clips"].int() - ref["clips"].int()).abs().float().mean() < 1.0
    # a resize on the device as well
    raw = collate([gpu[k] for k in keys])
    dec = decode_batch_on_device(raw, (16, 20), "cpu")
    assert dec["clips"].shape == (2, 2, 4, 16, 20, 3)


def test_mv_units_and_fill():
    mv = np.zeros((3, 2, 2, 2), np.int16)
    mv[0, ..., 0] = 8  # 2 source px right
    mv[2, ..., 1] = -4  # 1 source px up
    valid = np.array([1, 0, 1], np.uint8)
    f = mv_to_load_size(mv, valid, src_hw=(48, 64), load_hw=(24, 40), grid_hw=(2, 2)).astype(np.float32)
    assert f.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(f[0, 0], 2 * 40 / 64)
    np.testing.assert_allclose(f[0, 1], 2 * 40 / 64)  # invalid frame 1 takes frame 0's field
    np.testing.assert_allclose(f[1, 2], -1 * 24 / 48)
    v = np.array([0, 0, 1, 0], np.uint8)
    x = np.arange(4, dtype=np.float32)
    assert fill_invalid_mv(x.copy(), v).tolist() == [2, 2, 2, 2]
    assert fill_invalid_mv(x.copy(), np.zeros(4, np.uint8)).tolist() == [0, 1, 2, 3]


def test_missing_precompute_is_a_cache_error(tiny_cache):
    with pytest.raises(CacheError, match=r"run `vssl precompute fame .*` first"):
        ClipDataset(tiny_cache, requires={"fame": True}, fame_masks="cache")
    with pytest.raises(CacheError, match=r"run `vssl precompute be .*` first"):
        ClipDataset(tiny_cache, requires={"static": True}, static_frames="cache")
    ClipDataset(tiny_cache, requires={"fame": True, "static": True})  # online: nothing needed
    with pytest.raises(InputError, match="fame-masks"):
        ClipDataset(tiny_cache, fame_masks="disk")


@pytest.mark.slow
def test_precomputed_fame_and_be(tiny_cache_precomputed):
    ds = ClipDataset(tiny_cache_precomputed, clip_len=4, stride=2, size=(32, 40),
                     requires={"views": 2, "fame": True, "static": True}, fame_masks="cache", static_frames="cache")
    s = ds[SampleKey(1, 0)]
    assert s["fame_score"].shape == (2, 32, 40) and s["fame_score"].dtype == np.uint8
    assert s["static"].shape == (32, 40, 3) and s["static"].dtype == np.uint8
    assert s["fame_score"].max() > s["fame_score"].min()


def test_loop_to_device_decodes_gpu_batches(tiny_cache):
    """The loop's host -> device step with decode="gpu" (run here with the CPU as the device)."""
    from vssl.train.engine import to_device

    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={"views": 2}, decode="gpu")
    batch = to_device(collate([ds[SampleKey(i, 0)] for i in range(3)]), torch.device("cpu"), "gpu", (32, 40))
    assert batch["clips"].shape == (3, 2, 4, 32, 40, 3) and batch["clips"].dtype == torch.uint8
    assert not any(k.endswith(("_jpeg", "_offsets", "_count")) for k in batch)


# --------------------------------------------------------------------------- CMD motion windows

CMD_REQ = {"views": 1, "keyframe": True, "mv": True, "mv_len": 3, "mv_gap": 2, "mv_negatives": 3}


def _cmd_samples(ds, epochs=12):
    return [(ds.videos[i], ds[SampleKey(i, e)]) for e in range(epochs) for i in range(len(ds))]


def test_cmd_future_window_inside_the_video(tiny_cache):
    """Reference: the clip starts only where clip + gap + future window fit (no repeated last field)."""
    ds = ClipDataset(tiny_cache, clip_len=4, stride=6, size=(32, 40), requires=CMD_REQ)
    span = 3 * 6 + 1
    for v, s in _cmd_samples(ds):
        t0 = int(s["t0"][0])
        assert t0 + span + 2 + 3 <= v.n_frames  # the whole future window is inside the video
        assert int(s["mv_t0"]) == t0 + span + 2  # it starts mv_gap frames after the clip's last frame
    # the legacy option keeps the old draw: the future window may run past the end
    old = ClipDataset(tiny_cache, clip_len=4, stride=6, size=(32, 40), requires={**CMD_REQ, "mv_sampling": "legacy"})
    assert any(int(s["t0"][0]) + span + 2 + 3 > v.n_frames for v, s in _cmd_samples(old))


def test_cmd_negatives_unique_and_disjoint_from_the_future_window(tiny_cache):
    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires=CMD_REQ)
    lo = []
    for v, s in _cmd_samples(ds):
        fut, negs = int(s["mv_t0"]), [int(t) for t in s["mv_neg_t0"]]
        assert s["mv_neg"].shape == (3, 2, 3, 8, 10)
        assert len(set(negs)) == 3  # unique
        assert all(t + 3 <= fut or t >= fut + 3 for t in negs)  # no overlap with the positive window
        assert all(0 <= t and t + 3 <= v.n_frames for t in negs)
        lo.append(min(negs))
    assert min(lo) < 7  # windows before the positive, even within the first clip span, are drawn
    # the legacy option keeps the old draw: repeated negatives, some overlapping the positive window
    old = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={**CMD_REQ, "mv_sampling": "legacy"})
    bad = [s for _, s in _cmd_samples(old) if len(set(s["mv_neg_t0"].tolist())) < 3
           or any(abs(int(t) - int(s["mv_t0"])) < 3 for t in s["mv_neg_t0"])]
    assert bad


def test_cmd_negative_sampling_is_uniform_over_candidates():
    from vssl.data.sampling import cmd_negative_candidates, sample_cmd_negative_starts

    cand = cmd_negative_candidates(20, future_start=8, mv_len=4)
    assert cand.tolist() == [0, 1, 2, 3, 4, 12, 13, 14, 15, 16]
    rng = np.random.default_rng(0)
    seen = np.zeros(20)
    for _ in range(400):
        t = sample_cmd_negative_starts(20, 8, 4, 3, rng)
        assert len(set(t)) == 3
        seen[t] += 1
    assert seen[cand].min() > 60 and seen[np.setdiff1d(np.arange(20), cand)].sum() == 0
    # fewer candidates than negatives: with replacement, as the reference
    assert sorted(set(sample_cmd_negative_starts(9, 4, 4, 3, rng))) == [0]
    with pytest.raises(InputError, match="no negative motion window"):
        sample_cmd_negative_starts(8, 2, 4, 3, rng)


def test_cmd_min_frames_leaves_room_for_every_start():
    from vssl.data.sampling import cmd_min_frames, cmd_negative_candidates, cmd_window

    for span in (1, 3, 7):
        for gap in (0, 2):
            for mv_len in (1, 4, 9):
                need = cmd_min_frames(span, gap, mv_len, 3)
                for n in (need, need + 3):
                    for t0 in range(n - cmd_window(span, gap, mv_len) + 1):
                        assert len(cmd_negative_candidates(n, t0 + span + gap, mv_len)) > 0
                if need > cmd_window(span, gap, mv_len):  # and one frame less would not do
                    n = need - 1
                    assert any(len(cmd_negative_candidates(n, t0 + span + gap, mv_len)) == 0
                               for t0 in range(n - cmd_window(span, gap, mv_len) + 1))


def test_cmd_short_videos_are_skipped_with_a_warning(tiny_cache, monkeypatch):
    import dataclasses

    from vssl.io.cache import Cache

    split = Cache.split

    def shortened(self, *a, **k):
        vids = split(self, *a, **k)
        return [dataclasses.replace(v, n_frames=10) if i < 3 else v for i, v in enumerate(vids)]

    monkeypatch.setattr(Cache, "split", shortened)
    with pytest.warns(UserWarning, match=r"skipping 3 of 9 videos shorter than 12 frames"):
        ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires=CMD_REQ)
    assert len(ds) == 6 and all(v.n_frames >= 12 for v in ds.videos)
    monkeypatch.undo()
    with pytest.raises(InputError, match=r"no video of split 1 / train has the 51 frames CMD needs"):
        ClipDataset(tiny_cache, clip_len=16, stride=3, size=(32, 40), requires={**CMD_REQ, "mv_len": 3})


def test_cmd_keyframe_within_the_margin():
    from vssl.data.sampling import sample_cmd_keyframe

    kf = np.array([0, 12, 24, 36])
    rng = np.random.default_rng(0)
    picks = {sample_cmd_keyframe(kf, 10, 30, 5, rng) for _ in range(50)}
    assert picks == {1, 2}  # both I-frames within +-5 frames of the clip [10, 30], uniformly
    assert sample_cmd_keyframe(kf, 10, 31, 5, rng) in {1, 2, 3}
    assert sample_cmd_keyframe(kf, 2, 5, 1, rng) is None  # none: the dataset falls back to the nearest


def test_cmd_requirement_values_are_checked(tiny_cache):
    with pytest.raises(ValueError, match="mv_sampling must be one of reference, legacy"):
        ClipDataset(tiny_cache, requires={**CMD_REQ, "mv_sampling": "old"})
    with pytest.raises(ValueError, match="mv_units"):
        ClipDataset(tiny_cache, requires={**CMD_REQ, "mv_units": "px"})


def test_mv_source_units():
    mv = np.full((1, 2, 2, 2), 8, np.int16)  # 2 source px
    valid = np.ones(1, np.uint8)
    f = mv_to_load_size(mv, valid, src_hw=(48, 64), load_hw=(24, 40), grid_hw=(2, 2), units="source")
    np.testing.assert_allclose(f.astype(np.float32), 2.0)  # the reference feeds source-resolution pixels


def test_mv_to_load_size_follows_the_vectors_resolution():
    """Vectors of a re-encode at a quarter of the source size: 8 quarter-pel = 2 px there,
    4 px at a load size of half the source, 8 px in source pixels."""
    mv = np.zeros((1, 6, 8, 2), np.int16)
    mv[..., 0], mv[..., 1] = 8, -4
    valid = np.ones(1, np.uint8)
    kw = dict(src_hw=(96, 128), load_hw=(48, 64), grid_hw=(2, 2), mv_hw=(24, 32))
    load = mv_to_load_size(mv, valid, **kw).astype(np.float32)
    assert np.allclose(load[0], 4.0) and np.allclose(load[1], -2.0)
    src = mv_to_load_size(mv, valid, units="source", **kw).astype(np.float32)
    assert np.allclose(src[0], 8.0) and np.allclose(src[1], -4.0)
    # without mv_hw the vectors are the source's (caches written before the field existed)
    old = mv_to_load_size(mv, valid, src_hw=(96, 128), load_hw=(48, 64), grid_hw=(2, 2)).astype(np.float32)
    assert np.allclose(old[0], 1.0)


def test_schema_mv_hw_reads_old_and_new_records():
    from vssl.io import schema

    assert schema.mv_hw({"height": 240, "width": 320}) == (240, 320)
    assert schema.mv_hw({"height": 240, "width": 320, "mv_height": 128, "mv_width": 170}) == (128, 170)
