"""h5py with the compression filters vssl's shards use.

The motion-vector fields (``mv``) and FAME maps (``score``) are LZ4-compressed (HDF5
filter 32004, from hdf5plugin). Measured on the extract benchmark's fields (2 000
frames of 320x240, one core): LZ4 writes in 24 ms where h5py's built-in lzf takes
68 ms, reads a 16-frame clip in 0.17 ms instead of 0.84 ms, and is 20 % smaller.
Anything that opens a shard must import h5py through :func:`load_h5py` here, so that the
filter is registered (plain ``h5py`` plus ``import hdf5plugin`` does the same).
"""

from __future__ import annotations

_READY: list = []


def load_h5py():
    """The h5py module, with hdf5plugin's filters registered."""
    if not _READY:
        import h5py as _h5py

        try:
            import hdf5plugin  # noqa: F401  registers LZ4 (and the other filters) with HDF5
        except ImportError:  # pragma: no cover - a declared dependency
            from vssl.errors import CacheError

            raise CacheError("vssl's shards need the hdf5plugin package (pip install hdf5plugin)") from None
        _READY.append(_h5py)
    return _READY[0]


def compressed() -> dict:
    """create_dataset() keyword arguments of vssl's compressed arrays (LZ4)."""
    import hdf5plugin

    load_h5py()
    return dict(hdf5plugin.LZ4())
