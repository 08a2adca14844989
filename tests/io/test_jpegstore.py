"""JpegWriter: the bytes, offsets and hash do not depend on when the buffer is flushed."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

from vssl.io.cache import _slice_jpegs
from vssl.io.jpegstore import JpegWriter


def test_flushes_keep_bytes_offsets_and_hash(tmp_path):
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 300, 20)]
    digests = []
    with h5py.File(tmp_path / "a.h5", "w") as f:
        for flush_bytes, name in ((1, "every"), (500, "some"), (1 << 30, "once")):
            g = f.create_group(name)
            h = hashlib.blake2b(digest_size=16)
            w = JpegWriter(g, "jpeg", "offsets", h, chunk=64, flush_bytes=flush_bytes)
            for b in items:
                w.add(b)
            assert len(w) == len(items)
            w.close()
            assert g["jpeg"].chunks == (64,) and g["offsets"].dtype == np.int64
            assert g["jpeg"][()].tobytes() == b"".join(items)
            got = _slice_jpegs(g, "jpeg", "offsets", np.arange(len(items)))
            assert [x.tobytes() for x in got] == items
            digests.append(h.hexdigest())
        w = JpegWriter(f.create_group("nohash"), "jpeg", "offsets", chunk=64)  # hasher is optional
        w.add(items[0])
        w.close()
    assert digests[0] == digests[1] == digests[2] == hashlib.blake2b(b"".join(items), digest_size=16).hexdigest()
