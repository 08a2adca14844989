"""Writing JPEG byte strings into an HDF5 group: one uint8 dataset plus an offsets table.

The layout of ``keyframe_jpeg`` / ``frame_jpeg`` (:mod:`vssl.io.schema`) and of
``static_jpeg`` (:mod:`vssl.io.precomputed`): image ``i`` is the bytes
``data[offsets[i]:offsets[i + 1]]`` of the resizable uint8 dataset ``data``;
``offsets`` is int64 ``(N + 1,)``, written when the writer is closed. Readers:
:class:`vssl.io.cache.Cache`, :class:`vssl.io.precomputed.PrecomputeCache`.
"""

from __future__ import annotations

import numpy as np

FLUSH_BYTES = 4 << 20  # bytes buffered before a write


class JpegWriter:
    """JPEG byte strings appended to one uint8 dataset plus an offsets table.

    Args:
        group: the HDF5 group to write into.
        name: the uint8 dataset of the concatenated JPEG bytes (created here).
        offsets_name: the int64 offsets dataset (created by :meth:`close`).
        hasher: optional ``hashlib`` object updated with the bytes as they are written.
        chunk: HDF5 chunk size of the data set, in bytes.
        flush_bytes: bytes buffered before a write.
    """

    def __init__(self, group, name: str, offsets_name: str, hasher=None, *, chunk: int,
                 flush_bytes: int = FLUSH_BYTES):
        self.ds = group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(chunk,))
        self.group = group
        self.offsets_name = offsets_name
        self.offsets = [0]
        self.buf = bytearray()
        self.hasher = hasher
        self.flush_bytes = flush_bytes

    def add(self, data: bytes) -> None:
        self.buf += data
        self.offsets.append(self.offsets[-1] + len(data))
        if len(self.buf) >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            n0 = self.ds.shape[0]
            self.ds.resize((n0 + len(self.buf),))
            self.ds[n0:] = np.frombuffer(self.buf, np.uint8)
            if self.hasher is not None:
                self.hasher.update(self.buf)
            self.buf = bytearray()

    def close(self) -> None:
        """Write what is buffered and the offsets table."""
        self.flush()
        self.group.create_dataset(self.offsets_name, data=np.asarray(self.offsets, np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1
