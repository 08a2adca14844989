from __future__ import annotations

import numpy as np
import pytest

from vssl.data.sampling import (
    EpochBatchSampler,
    SampleKey,
    clip_indices,
    clip_span,
    epoch_permutation,
    sample_negative_start,
    sample_rng,
    sample_starts,
)
from vssl.errors import InputError


def test_clip_span_and_indices():
    assert clip_span(16, 4) == 61
    assert clip_indices(3, 4, 2, 100).tolist() == [3, 5, 7, 9]
    assert clip_indices(0, 4, 4, 6).tolist() == [0, 4, 5, 5]  # short video: last frame repeated


def test_starts_distinct_and_in_range():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = sample_starts(40, 16, 2, rng)
        assert a != b and 0 <= a <= 24 and 0 <= b <= 24
    assert sample_starts(10, 16, 2, rng) == [0, 0]  # too short: the only start


def test_negative_start_is_another_segment():
    rng = np.random.default_rng(1)
    for t_pos in range(0, 85, 7):
        for _ in range(50):
            t = sample_negative_start(100, 16, t_pos, rng)
            assert 0 <= t <= 84 and abs(t - t_pos) > 2
    assert sample_negative_start(18, 16, 1, rng) in (0, 2)  # no room: as far as possible


def test_sample_rng_is_a_pure_function():
    a = sample_rng(0, 3, 7).integers(0, 1 << 30, 4)
    b = sample_rng(0, 3, 7).integers(0, 1 << 30, 4)
    c = sample_rng(0, 4, 7).integers(0, 1 << 30, 4)
    assert (a == b).all() and not (a == c).all()


def test_epoch_permutation_deterministic():
    assert (epoch_permutation(50, 1, 2) == epoch_permutation(50, 1, 2)).all()
    assert not (epoch_permutation(50, 1, 2) == epoch_permutation(50, 1, 3)).all()
    assert sorted(epoch_permutation(50, 1, 2)) == list(range(50))


def _collect(s: EpochBatchSampler, epoch: int, start: int = 0):
    s.set_epoch(epoch, start)
    return [[k.index for k in mb] for mb in s]


def test_micro_batches_match_between_accum_and_ranks():
    """One process with accum 2 sees what two DDP ranks with accum 1 see, micro-batch for micro-batch."""
    single = _collect(EpochBatchSampler(20, 8, seed=5, accum=2), 1)
    r0 = _collect(EpochBatchSampler(20, 8, seed=5, world_size=2, rank=0), 1)
    r1 = _collect(EpochBatchSampler(20, 8, seed=5, world_size=2, rank=1), 1)
    assert single[0::2] == r0 and single[1::2] == r1
    assert len(single) == 2 * (20 // 8)
    flat = [i for mb in single for i in mb]
    assert len(set(flat)) == len(flat) == 16


def test_resume_position_and_keys():
    s = EpochBatchSampler(30, 5, seed=0)
    full = _collect(s, 2)
    assert _collect(s, 2, start=3) == full[3:]
    s.set_epoch(2)
    assert all(isinstance(k, SampleKey) and k.epoch == 2 for k in next(iter(s)))
    assert len(s) == 6


def test_sampler_errors():
    with pytest.raises(InputError, match="larger than the dataset"):
        EpochBatchSampler(9, 16, seed=0)
    with pytest.raises(InputError, match="divisible"):
        EpochBatchSampler(20, 6, seed=0, world_size=4)


def test_fit_batch_size():
    from vssl.data.sampling import fit_batch_size

    assert fit_batch_size(64, 100) == 64  # fits: unchanged
    assert fit_batch_size(64, 36) == 36
    assert fit_batch_size(64, 37, world_size=2, accum=2) == 36  # a multiple of 2 x 2 that fits
    assert fit_batch_size(16, 9, accum=2) == 8
    with pytest.raises(InputError, match="no smaller batch fits 4 process\\(es\\) x 1 accumulation"):
        fit_batch_size(8, 3, world_size=4)
