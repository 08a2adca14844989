"""Shared CLI helpers: consoles, the error boundary, small parsers.

Exit codes (README, "Exit codes"):
    0  success
    1  finished, but some inputs failed (extract/precompute) or problems found (verify)
    2  bad usage, bad input path, bad option or config
    3  cache missing, incomplete, of another version, or corrupt; directory in use by another vssl process
    5  training stopped (NaN loss, out of memory)
    6  no space left on device (or too little to start a large write); committed work is kept
    75 stopped by SIGTERM / SIGUSR1 (preemption, time limit) after saving; rerun the same command to resume
    130 interrupted (Ctrl-C, SIGINT), after saving where the command can; rerun the same command to resume
"""

from __future__ import annotations

import functools
import sys

import typer
from rich.console import Console

from vssl.errors import DiskFullError

# soft_wrap: a message longer than the terminal (or the 80 columns rich assumes in a log file) stays
# one line with its paths whole, for the terminal to fold; tables still fit the width
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_CACHE, EXIT_TRAIN, EXIT_INTERRUPTED = 0, 1, 2, 3, 5, 130
EXIT_PREEMPTED = 75  # vssl.signals.EXIT_PREEMPTED
EXIT_DISK_FULL = DiskFullError.exit_code


def error_boundary(fn):
    """Turn library errors into one red line and an exit code (never a traceback).

    Messages are escaped: a ``[...]`` in them (``pip install 'vssl[export]'``, a list) is printed
    as written, not read as rich markup."""
    from rich.markup import escape

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from vssl.errors import Stopped, VsslError

        try:
            return fn(*args, **kwargs)
        except Stopped as e:
            err_console.print(f"[yellow]stopped:[/yellow] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except VsslError as e:
            err_console.print(f"[bold red]error:[/bold red] {escape(one_line(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/yellow]: rerun the same command to resume")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except FileNotFoundError as e:
            err_console.print(f"[bold red]error:[/bold red] file not found: {escape(str(e.filename))}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except PermissionError as e:
            err_console.print(f"[bold red]error:[/bold red] permission denied: {escape(str(e.filename))}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except OSError as e:
            import errno

            from vssl.io.space import disk_full, is_enospc

            if e.errno == errno.EROFS:
                err_console.print(f"[bold red]error:[/bold red] read-only file system: cannot write "
                                  f"{escape(str(e.filename or '?'))}", highlight=False, soft_wrap=True)
                raise typer.Exit(EXIT_USAGE) from None
            if not is_enospc(e):
                raise
            err_console.print(f"[bold red]error:[/bold red] {escape(disk_full(e.filename or '?'))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(EXIT_DISK_FULL) from None

    return wrapper


def one_line(e: BaseException) -> str:
    """The message of a library error; one raised in a DataLoader worker arrives with the worker's
    traceback in front ("Caught CacheError in DataLoader worker process 0. Original Traceback ..."):
    its last line is the error's own message."""
    text = str(e)
    if "Original Traceback" not in text:
        return text
    last = [ln for ln in text.strip().splitlines() if ln.strip()][-1]
    head, sep, rest = last.partition(": ")
    return rest if sep and head.split(".")[-1] == type(e).__name__ else last


def parse_size(text: str) -> tuple[int, int]:
    """'160x120' -> (160, 120)."""
    from vssl.errors import InputError

    try:
        w, h = text.lower().split("x")
        w, h = int(w), int(h)
    except ValueError:
        raise InputError(f"size must look like 160x120, not '{text}'") from None
    if w <= 0 or h <= 0:
        raise InputError(f"size must be positive, not '{text}'")
    return w, h


def parse_bytes(text: str) -> int:
    """'1G', '500M', '1048576' -> bytes."""
    from vssl.errors import InputError

    t = text.strip().upper().removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if t and t[-1] in mult:
            return int(float(t[:-1]) * mult[t[-1]])
        return int(t)
    except ValueError:
        raise InputError(f"size in bytes must look like 1G, 500M or 1048576, not '{text}'") from None


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def env_int(*names: str, default: int) -> int:
    import os

    for n in names:
        v = os.environ.get(n)
        if v not in (None, ""):
            try:
                return int(v)
            except ValueError:
                pass
    return default


def is_tty() -> bool:
    return sys.stderr.isatty()
