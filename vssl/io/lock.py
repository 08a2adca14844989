"""Directory locks: one writer per cache, precompute, run directory and eval directory.

``DIR/.vssl.lock`` is locked with ``fcntl.flock``: exclusively by the process that
writes into DIR (extract, merge, precompute, pretrain, eval), shared by processes that
only read it (pretrain and eval read a cache; the parts of a ``--num-shards``
extraction share the cache and each hold their own ``.vssl-partIIIofKKK.lock``).

Why ``flock`` and not an ``O_EXCL`` lock file: the kernel drops a flock when its
holder dies (``kill -9``, OOM killer, a preempted job), so a lock left by a dead
process is never in the way and taking it over needs no guess about whether a pid is
still alive or was reused; with ``O_EXCL`` a crashed run leaves the file behind, and
two processes that both decide it is stale can both "take it over". The lock file is
never deleted (deleting it would let a second process lock a new file while the first
still holds the old one). Its content (pid, host, start time, command) is written by
the exclusive holder only to name it in the refusal; an old content whose process is
gone is reported as taken over. On Linux NFS clients flock is carried by the server's
byte-range locks, so it also works across machines; on a filesystem without any lock
support vssl warns once and goes on unlocked.

Locks are re-entrant inside one process (a process never competes with itself: an
in-process eval after a pretrain, or library code taking the same lock twice).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from vssl.errors import CacheError, InputError

LOCK_NAME = ".vssl.lock"

# path of the lock file -> [fd, mode ("ex" | "sh"), count]; one entry per file this process holds
_HELD: dict[str, list] = {}
_WARNED: list[bool] = []


@dataclass
class Holder:
    pid: int | None
    host: str | None
    started: str | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        parts = [f"pid {self.pid}"]
        if self.host:
            parts.append(f"on {self.host}")
        if self.started:
            parts.append(f"since {self.started}")
        s = " ".join(parts)
        return f"{s} ({self.command})" if self.command else s


def _read_holder(path: Path) -> Holder | None:
    try:
        d = json.loads(path.read_text("utf-8") or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict):
        return None
    pid = d.get("pid")
    return Holder(int(pid) if isinstance(pid, int) else None, d.get("host"), d.get("started"), d.get("command"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_holders(path: Path) -> list[tuple[Holder, bool]]:
    """(holder, writes) of every process on this host with a flock on ``path`` (/proc/locks; [] elsewhere)."""
    try:
        st = path.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        f = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters carry "->")
        if "->" in f or len(f) < 6 or f[1] != "FLOCK":
            continue
        dev_ino = f[5].split(":")
        try:
            same = int(dev_ino[-1]) == st.st_ino and int(dev_ino[0], 16) == os.major(st.st_dev) \
                and int(dev_ino[1], 16) == os.minor(st.st_dev)
            pid = int(f[4])
        except (ValueError, IndexError):
            continue
        if not same or pid == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(os.stat(f"/proc/{pid}").st_mtime))
        except OSError:
            cmd, started = None, None
        out.append((Holder(pid, socket.gethostname(), started, _short_command(cmd) if cmd else None), f[3] == "WRITE"))
    return out


def _short_command(cmd: str) -> str:
    words = cmd.split()
    for i, w in enumerate(words):  # "python -m vssl.cli.main pretrain ..." / ".../bin/vssl pretrain ..."
        if w.endswith("vssl") or w == "vssl.cli.main":
            return " ".join(["vssl", *words[i + 1 : i + 3]])
    return " ".join(words[:3])


def _this_command() -> str:
    return _short_command(" ".join(sys.argv)) if sys.argv and sys.argv[0] else "vssl"


def _refusal(path: Path, what: str, shared: bool) -> str:
    d = path.parent
    live = _proc_holders(path)
    recorded = _read_holder(path)  # written by the exclusive holder (cleared when it lets go)
    writers = [h for h, w in live if w]
    readers = [h for h, w in live if not w]
    if writers:
        w = writers[0]
        if recorded is not None and recorded.pid == w.pid:
            w = recorded
        return f"{d} is in use: {w.describe()} writes it; wait for it to finish (or stop it), or use another directory"
    if readers and not shared:
        r = readers[0]
        more = f" and {len(readers) - 1} more" if len(readers) > 1 else ""
        return (f"{d} is in use: {r.describe()}{more} reads it; wait for it to finish (or stop it) "
                f"before {what} writes into it")
    who = recorded.describe() if recorded is not None and recorded.pid is not None else "another process"
    return f"{d} is in use: locked by {who}; wait for it to finish (or stop it), or use another directory"


def _not_writable(d: Path, what: str, e: OSError) -> InputError:
    """The one line of a writer on a read-only directory (a read-only mount, no write permission)."""
    why = "read-only file system" if e.errno == errno.EROFS else "no write permission"
    return InputError(f"{d} is not writable ({why}): {what} writes there; run it on a writable copy "
                      "or choose another output directory")


@contextlib.contextmanager
def dir_lock(directory: str | Path, what: str, *, shared: bool = False, name: str = LOCK_NAME,
             create: bool = True) -> Iterator[Holder | None]:
    """Hold the lock of ``directory`` for the ``with`` block.

    Args:
        directory: the cache / run / eval directory (created when ``create`` and missing).
        what: the command, named in the message of a refused second run (e.g. ``vssl pretrain``).
        shared: a reader's lock: many at once, none while a writer holds it.
        name: the lock file's name inside ``directory`` (parts of a split run each have one).
        create: create ``directory``; without it a missing directory is not locked (the
            caller reports it as missing).

    Yields:
        The holder recorded by a dead process whose stale lock was taken over, else None.

    Raises:
        CacheError: another process holds the lock (exit 3), naming it: pid, host, start time.
        InputError: ``directory`` exists and is not a directory.
    """
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise InputError(f"{d} exists and is not a directory")
    if not d.exists():
        if not create:
            yield None
            return
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise _not_writable(d, what, e) from None
            raise
    path = d / name
    key = os.path.realpath(path)
    mode = "sh" if shared else "ex"
    held = _HELD.get(key)
    if held is not None:
        if held[1] == "sh" and mode == "ex":
            raise CacheError(f"{d}: this process reads it and cannot also write it")
        held[2] += 1
        try:
            yield None
        finally:
            held[2] -= 1
            if held[2] == 0:
                _release(key)
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and shared:
            yield None  # a read-only cache: nobody can be writing it through this path
            return
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise _not_writable(d, what, e) from None
        raise
    try:
        _flock(fd, path, shared)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise CacheError(_refusal(path, what, shared)) from None
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            if not _WARNED:
                _WARNED.append(True)
                print(f"warning: {d}: this filesystem has no file locks; concurrent runs are not detected",
                      file=sys.stderr)
            yield None
            return
        raise
    stale = None
    if not shared:
        old = _read_holder(path)
        if old is not None and old.pid is not None and old.pid != os.getpid():
            stale = old  # it held the lock and is gone (the kernel released its flock)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": _this_command()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _HELD[key] = [fd, mode, 1]
    try:
        yield stale
    finally:
        held = _HELD.get(key)
        if held is not None:
            held[2] -= 1
            if held[2] == 0:
                _release(key)


ORPHAN_WAIT_S = 15.0


def _flock(fd: int, path: Path, shared: bool) -> None:
    """flock without blocking; waits (up to ORPHAN_WAIT_S) only while the holder is a process
    that has died and left forked children (DataLoader workers) holding the lock until they
    notice and exit."""
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            live = _proc_holders(path)
            if not live or any(_pid_alive(h.pid) for h, _ in live) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _release(key: str) -> None:
    fd, mode, _ = _HELD.pop(key)
    try:
        if mode == "ex":
            os.ftruncate(fd, 0)  # no holder recorded: a later refusal names only live holders
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def part_lock_name(index: int, count: int) -> str:
    """Lock file of one part of a ``--num-shards`` run (the parts share the directory's main lock)."""
    return f".vssl-part{index:03d}of{count:03d}.lock"


@contextlib.contextmanager
def writer_lock(directory: str | Path, what: str, *, part: tuple[int, int] | None = None,
                whole: bool = False) -> Iterator[Holder | None]:
    """The locks of a run that writes into ``directory``: exclusive, or, for one part of a
    split run, shared on the directory and exclusive on the part (``whole``: exclusive anyway,
    e.g. ``--force`` deletes every part's files)."""
    if part is None or part[1] <= 1 or whole:
        with dir_lock(directory, what) as stale:
            yield stale
        return
    with dir_lock(directory, what, shared=True):
        with dir_lock(directory, what, name=part_lock_name(*part)) as stale:
            yield stale


def stale_note(stale: Holder | None, directory: str | Path) -> str | None:
    """One line for the log when a dead process's lock was taken over, else None."""
    if stale is None:
        return None
    return f"{directory}: took over the lock left by {stale.describe()}, which is no longer running"
