"""Free disk space: checks before large writes, and one line when the device fills up anyway.

Every writer that can fill a disk (shards of extract / precompute, checkpoints, eval
feature caches, export, manifests) checks the free space first and turns ENOSPC into
:class:`vssl.errors.DiskFullError` (exit 6) naming the file and the space left; committed
work is never touched, so freeing space and rerunning the same command resumes.
"""

from __future__ import annotations

import os

from vssl.utils.fs import (  # noqa: F401  (the writers and checks live in vssl.utils.fs)
    MB,
    atomic_write,
    disk_full,
    ensure_free,
    free_bytes,
    is_enospc,
    mb,
    remove_quietly,
)

MIN_FREE_MB = 32  # below this no video is started (HDF5 crashes rather than fails when the disk fills)


def min_free() -> int:
    """Bytes that must stay free before a video is written (``VSSL_MIN_FREE_MB``, default 32)."""
    try:
        return int(float(os.environ.get("VSSL_MIN_FREE_MB", MIN_FREE_MB)) * MB)
    except ValueError:
        return MIN_FREE_MB * MB
