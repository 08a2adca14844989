"""The science benchmark's intervals: hand-worked cases and properties."""

from __future__ import annotations

import numpy as np
import pytest

from vssl.bench.stats import bootstrap_ci, paired_difference, pooled_ci


def test_constant_outcomes_have_a_zero_width_interval():
    iv = bootstrap_ci(np.full((3, 10), 0.25), n_boot=200)
    assert (iv.mean, iv.lo, iv.hi) == (0.25, 0.25, 0.25)
    assert not bootstrap_ci(np.zeros(5), n_boot=50).excludes_zero()


def test_two_videos_hand_worked():
    # One seed, outcomes (0, 1): a resample of 2 videos has mean 0, 1/2 or 1 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5 % and 97.5 % percentiles are 0 and 1 and the mean is 1/2.
    iv = bootstrap_ci([0, 1], n_boot=20000, seed=1)
    assert iv.mean == 0.5 and iv.lo == 0.0 and iv.hi == 1.0
    # 80 % interval: 10 % and 90 % percentiles of the same three-point distribution.
    iv80 = bootstrap_ci([0, 1], n_boot=20000, level=0.8, seed=1)
    assert (iv80.lo, iv80.hi) == (0.0, 1.0)
    iv40 = bootstrap_ci([0, 1], n_boot=20000, level=0.4, seed=1)  # 30 % / 70 %: both inside the 1/2 mass
    assert (iv40.lo, iv40.hi) == (0.5, 0.5)


def test_interval_matches_the_normal_approximation_for_many_videos():
    rng = np.random.default_rng(0)
    v = (rng.random(400) < 0.3).astype(float)
    iv = bootstrap_ci(v, n_boot=4000)
    se = v.std() / np.sqrt(len(v))
    assert iv.hi - iv.lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert iv.lo < v.mean() < iv.hi


def test_seed_variation_widens_the_interval():
    rng = np.random.default_rng(0)
    base = (rng.random((1, 96)) < 0.5).astype(float)
    same = np.repeat(base, 3, axis=0)
    shifted = same.copy()
    shifted[0] = 0.0
    shifted[2] = 1.0  # seeds disagree a lot
    assert bootstrap_ci(shifted).hi - bootstrap_ci(shifted).lo > bootstrap_ci(same).hi - bootstrap_ci(same).lo


def test_paired_difference_is_narrower_than_unpaired_when_videos_are_shared():
    rng = np.random.default_rng(0)
    hard = rng.random(96) < 0.5  # per-video difficulty shared by both networks
    a = (hard | (rng.random(96) < 0.15)).astype(float)[None]
    b = hard.astype(float)[None]
    d = paired_difference(a, b)
    assert d.lo > 0, "a beats b on some videos and never loses: the paired interval excludes 0"
    assert bootstrap_ci(a).lo < bootstrap_ci(b).hi, "while the two unpaired intervals overlap"


@pytest.mark.parametrize("bad", [[], [[np.nan, 1.0]], np.zeros((2, 2, 2))])
def test_bad_tables_raise(bad):
    with pytest.raises(ValueError):
        bootstrap_ci(bad)


def test_paired_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        paired_difference(np.zeros((2, 3)), np.zeros((1, 3)))


def test_pooled_hand_worked():
    # Tables (0, 1) and (1, 1), one seed each: the second always resamples to 1, the first to 0, 1/2
    # or 1 (1/4, 1/2, 1/4), so the pooled mean of the four cells is 3/4 and its replicates 1/2, 3/4
    # or 1 with the same probabilities: the 95 % interval is [1/2, 1], the 40 % one [3/4, 3/4].
    iv = pooled_ci([[0, 1], [1, 1]], n_boot=20000, seed=1)
    assert iv.mean == 0.75 and (iv.lo, iv.hi) == (0.5, 1.0)
    iv40 = pooled_ci([[0, 1], [1, 1]], n_boot=20000, level=0.4, seed=1)
    assert (iv40.lo, iv40.hi) == (0.75, 0.75)
    # cells weigh equally: a table of 6 cells counts three times one of 2
    assert pooled_ci([np.ones((3, 2)), np.zeros((1, 2))], n_boot=10).mean == 0.75


def test_pooling_replications_narrows_the_interval():
    rng = np.random.default_rng(0)
    a, b = ((rng.random((3, 96)) < 0.3).astype(float) for _ in range(2))
    one, both = bootstrap_ci(a, n_boot=4000), pooled_ci([a, b], n_boot=4000)
    alone = pooled_ci([a], n_boot=4000)
    assert alone.mean == one.mean and alone.hi - alone.lo == pytest.approx(one.hi - one.lo, rel=0.1)
    assert both.hi - both.lo < 0.85 * (one.hi - one.lo)  # about 1/sqrt(2) of it
    assert both.mean == pytest.approx((a.mean() + b.mean()) / 2) and both.lo < both.mean < both.hi
    with pytest.raises(ValueError):
        pooled_ci([])
    with pytest.raises(ValueError):
        pooled_ci([a, np.full(3, np.nan)])
