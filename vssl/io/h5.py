"""h5py with the compression filters vssl's shards use.

The motion-vector fields (``mv``) and FAME maps (``score``) are LZ4-compressed (HDF5
filter 32004, from hdf5plugin). Measured on the extract benchmark's fields (2 000
frames of 320x240, one core): LZ4 writes in 24 ms where h5py's built-in lzf takes
68 ms, reads a 16-frame clip in 0.17 ms instead of 0.84 ms, and is 20 % smaller.
Anything that opens a shard must import h5py through :func:`load_h5py` here, so that the
filter is registered (plain ``h5py`` plus ``import hdf5plugin`` does the same).

``VSSL_H5_COMPRESSION=lzf`` writes new arrays with h5py's built-in lzf filter instead and
lets vssl run without hdf5plugin (its 46 MB wheel does not fit the 64 MB a GPU benchmark
machine can be sent, see ``make bench-gpu``). Such a cache is read by any h5py; a cache of
LZ4 arrays still needs hdf5plugin to be read.
"""

from __future__ import annotations

import os

_READY: list = []
COMPRESSIONS = ("lz4", "lzf")


def compression() -> str:
    """The filter of new arrays: ``lz4`` (default) or ``lzf`` (``VSSL_H5_COMPRESSION``)."""
    c = os.environ.get("VSSL_H5_COMPRESSION", "lz4").strip().lower() or "lz4"
    if c not in COMPRESSIONS:
        from vssl.errors import InputError

        raise InputError(f"VSSL_H5_COMPRESSION must be one of {', '.join(COMPRESSIONS)}, not {c!r}")
    return c


def load_h5py():
    """The h5py module, with hdf5plugin's filters registered (not needed with ``lzf``)."""
    if not _READY:
        import h5py as _h5py

        try:
            import hdf5plugin  # noqa: F401  registers LZ4 (and the other filters) with HDF5
        except ImportError:
            if compression() != "lzf":
                from vssl.errors import CacheError

                raise CacheError("vssl's shards need the hdf5plugin package (pip install hdf5plugin), "
                                 "or VSSL_H5_COMPRESSION=lzf for caches written without it") from None
        _READY.append(_h5py)
    return _READY[0]


def compressed() -> dict:
    """create_dataset() keyword arguments of vssl's compressed arrays (LZ4, or lzf: see above)."""
    load_h5py()
    if compression() == "lzf":
        return {"compression": "lzf"}
    import hdf5plugin

    return dict(hdf5plugin.LZ4())
