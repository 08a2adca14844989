"""Files: the one atomic writer family (temporary file, flush, fsync, ``os.replace``) and free-space checks.

Every writer that can fill a disk checks the free space first (:func:`ensure_free`) and turns
ENOSPC into :class:`vssl.errors.DiskFullError` (exit 6) naming the file and the space left
(:func:`disk_full`); committed work is never touched, so freeing space and rerunning the same
command resumes. The cache's own policy (``VSSL_MIN_FREE_MB``) is :mod:`vssl.io.space`.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from vssl.errors import DiskFullError

MB = 1 << 20


def free_bytes(path: str | Path) -> int:
    """Free bytes for an unprivileged writer on the device of ``path`` (or of its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return 1 << 62  # cannot tell: do not block the write


def mb(n: float) -> str:
    return f"{n / MB:,.0f} MB" if n >= MB else f"{n / MB:.1f} MB"


def ensure_free(path: str | Path, need: int, what: str, kept: str = "nothing was written") -> None:
    """Raise DiskFullError when fewer than ``need`` bytes are free where ``path`` will be written."""
    free = free_bytes(path)
    if free < need:
        raise DiskFullError(f"not enough space to write {path} ({what}): {mb(free)} free, about {mb(need)} needed; "
                            f"{kept}: free space and rerun")


def is_enospc(e: BaseException) -> bool:
    """An exception caused by a full device (errno, or the text HDF5 / torch leave of it)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(e)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text


def disk_full(path: str | Path, kept: str = "committed work is kept") -> DiskFullError:
    """The one-line error of a write that failed because the device is full."""
    return DiskFullError(f"no space left on device writing {path} ({mb(free_bytes(path))} free); {kept}: "
                         "free space and rerun")


def remove_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, kept: str | None = None) -> None:
    """The one atomic writer: ``write(f)`` into ``path.tmpPID``, flush, fsync, then ``os.replace``.

    A reader never sees a half-written file under ``path``: a crash or ``kill -9`` leaves at most
    the temporary file, and the old ``path`` stays whole until the rename. A full disk (ENOSPC, or
    a writer such as ``torch.save`` reporting a short write as RuntimeError while under 1 MB is free)
    removes the temporary file and raises :class:`DiskFullError` naming ``path`` and ``kept``
    (default: whether the previous file is kept).
    """
    path = Path(path)
    if kept is None:
        kept = f"the previous {path.name} is kept" if path.exists() else "committed work is kept"
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as e:
        remove_quietly(tmp)
        if is_enospc(e) or (isinstance(e, RuntimeError) and free_bytes(path.parent) < MB):
            raise disk_full(path, kept) from None
        raise
    except BaseException:
        remove_quietly(tmp)
        raise
    os.replace(tmp, path)


def fsync_path(path: str | Path) -> None:
    """fsync a file written by another writer (an HDF5 shard) before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """``data`` written to ``path`` with :func:`atomic_write`."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON (UTF-8, keys in their order) with :func:`atomic_write`."""
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=False).encode("utf-8"))


def atomic_torch_save(path: str | Path, obj: Any, what: str = "a checkpoint") -> None:
    """``torch.save(obj)`` with :func:`atomic_write`, its parent created, after a free-space check of its
    tensors' bytes + 1 MB (the new file is written beside the old one)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = f"the previous {path.name} is kept" if path.exists() else "nothing was written"
    ensure_free(path.parent, tensor_bytes(obj) + MB, what, kept)
    atomic_write(path, lambda f: torch.save(obj, f), kept=kept)


def tensor_bytes(obj: Any) -> int:
    """Bytes of the torch tensors inside ``obj`` (nested dicts, lists, tuples)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0
