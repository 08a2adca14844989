"""The decoded-frame cache (run.frame_cache_mb): a bounded store that changes no sample."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from vssl.data.dataset import ClipDataset, collate
from vssl.data.frames import FrameCache
from vssl.data.sampling import EpochBatchSampler, SampleKey

ALL = {"views": 2, "neg_clip": True, "keyframe": True, "mv": True, "mv_len": 3, "mv_negatives": 2}


def test_lru_is_bounded_and_read_only():
    fc = FrameCache(max_mb=3 * 1024 / 2**20)  # room for three 1 KiB frames
    frames = [np.full((32, 32), i, np.uint8) for i in range(4)]
    for i, f in enumerate(frames):
        assert fc.put(i, f) is f  # a fresh array is stored as is
    assert len(fc) == 3 and fc.bytes == 3 * 1024 and fc.get(0) is None  # the oldest went first
    assert fc.get(1) is frames[1]
    fc.put(4, np.zeros((32, 32), np.uint8))  # 1 was used last: 2 goes
    assert fc.get(2) is None and fc.get(1) is not None
    with pytest.raises(ValueError):
        fc.get(1)[0, 0] = 7  # stored frames are read-only
    view = np.zeros((4, 32, 32), np.uint8)[1]
    assert fc.put(5, view) is not view  # a view is copied, its base is not frozen
    assert fc.hits == 3 and fc.misses == 2


def test_off_and_pickled_empty():
    off = FrameCache(0)
    assert not off and off.put("a", np.zeros(3, np.uint8)) is not None and len(off) == 0
    fc = FrameCache(1)
    fc.put("a", np.zeros(8, np.uint8))
    clone = pickle.loads(pickle.dumps(fc))
    assert len(clone) == 0 and clone.max_bytes == fc.max_bytes  # a worker fills its own


@pytest.mark.parametrize("mb", [0.05, 64])  # too small for the split (frame by frame), and the whole split
def test_samples_unchanged(tiny_cache, mb):
    kw = dict(clip_len=4, stride=2, size=(32, 40), requires=ALL)
    plain, cached = ClipDataset(tiny_cache, **kw), ClipDataset(tiny_cache, frame_cache_mb=mb, **kw)
    assert cached.cache_whole == (mb == 64)
    for epoch in range(3):  # later epochs read from the cache
        for i in range(len(plain)):
            a, b = plain[SampleKey(i, epoch)], cached[SampleKey(i, epoch)]
            assert a.keys() == b.keys()
            assert all(np.array_equal(a[k], b[k]) for k in a), (epoch, i)
    assert cached.frame_cache.hits > 0 and cached.frame_cache.bytes <= cached.frame_cache.max_bytes


def test_workers_with_a_cache_give_the_same_batches(tiny_cache):
    kw = dict(clip_len=4, stride=2, size=(32, 40), requires={"views": 2})
    out = []
    for ds, workers in ((ClipDataset(tiny_cache, **kw), 0), (ClipDataset(tiny_cache, frame_cache_mb=64, **kw), 2)):
        s = EpochBatchSampler(len(ds), 4, seed=0)
        batches = []
        for epoch in range(2):
            s.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(ds, batch_sampler=s, num_workers=workers, collate_fn=collate)
            batches += [b["clips"] for b in loader]
        out.append(batches)
    assert all(torch.equal(x, y) for x, y in zip(*out))


@pytest.mark.parametrize("mb", [0.05, 64])
def test_a_split_the_store_cannot_hold_is_one_note_without_workers(tiny_cache, tmp_path, capfd, mb):
    from helpers.training import tiny_config
    from vssl.train.loop import pretrain

    cfg = tiny_config("moco", tiny_cache, **{"run.frame_cache_mb": mb, "data.workers": 0, "optim.steps": 1})
    pretrain(cfg, tmp_path / "run", quiet=True)
    notes = [line for line in capfd.readouterr().err.splitlines() if "more than the store of decoded frames" in line]
    assert len(notes) == (1 if mb < 1 else 0)
    assert not notes or "--workers N" in notes[0] and "run.frame_cache_mb 0.05" in notes[0]
