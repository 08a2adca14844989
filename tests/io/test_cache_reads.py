"""Cache.read_mv through the pool's kept dataset handles: the same arrays as a direct h5py read,
fresh handles after close() and in a new process (pickled to a DataLoader worker)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from helpers.training import build_tiny_cache

from vssl.errors import InputError
from vssl.io.cache import Cache


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return build_tiny_cache(tmp_path_factory.mktemp("readcache"))


def test_read_mv_equals_the_shard_and_survives_close_and_pickle(cache):
    c = Cache(cache)
    v = c.video(c.split("1", "train")[0].id)
    with h5py.File(cache / v.shard, "r") as f:
        want, want_valid = f[v.group]["mv"][2:10:2], f[v.group]["mv_valid"][2:10:2]
    mv, valid = c.read_mv(v.id, 2, 10, 2)
    assert np.array_equal(mv, want) and np.array_equal(valid, want_valid) and mv.dtype == np.int16
    assert c._pool._datasets  # kept for the next read
    c._pool.close()
    assert not c._pool._datasets
    assert np.array_equal(c.read_mv(v.id, 2, 10, 2)[0], want)  # reopened
    other = pickle.loads(pickle.dumps(c))  # what a DataLoader worker gets: no handles
    assert not other._pool._datasets and np.array_equal(other.read_mv(v.id, 2, 10, 2)[0], want)
    with pytest.raises(InputError, match="out of range"):
        c.read_mv(v.id, 0, v.n_frames + 1)
