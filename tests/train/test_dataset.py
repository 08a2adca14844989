from __future__ import annotations

import numpy as np
import pytest
import torch

from vssl.data.dataset import ClipDataset, collate, decode_batch_on_device, fill_invalid_mv, mv_to_load_size
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
    from vssl.train.loop import to_device

    ds = ClipDataset(tiny_cache, clip_len=4, stride=2, size=(32, 40), requires={"views": 2}, decode="gpu")
    batch = to_device(collate([ds[SampleKey(i, 0)] for i in range(3)]), torch.device("cpu"), "gpu", (32, 40))
    assert batch["clips"].shape == (3, 2, 4, 32, 40, 3) and batch["clips"].dtype == torch.uint8
    assert not any(k.endswith(("_jpeg", "_offsets", "_count")) for k in batch)
