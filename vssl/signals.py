"""Graceful stops: SIGTERM, SIGINT and SIGUSR1 ask a long run to stop at the next safe point.

Slurm sends SIGTERM on preemption and at the time limit (``--signal=USR1@120`` sends
SIGUSR1 earlier); Ctrl-C sends SIGINT. Inside :class:`StopRequest` these signals only
record that a stop was asked for; the loop that owns the block finishes its step (or
drops the video in progress), saves atomically and raises :class:`vssl.errors.Stopped`.
A second Ctrl-C stops at once (``KeyboardInterrupt``; the last checkpoint is kept).

Exit codes (README, "Exit codes"): 130 after SIGINT, 75 after SIGTERM or SIGUSR1
(``EX_TEMPFAIL``: a requeue script reruns the same command on 75).
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
EXIT_SIGINT = 130
EXIT_PREEMPTED = 75


def exit_code_of(signum: int | None) -> int:
    return EXIT_SIGINT if signum in (None, signal.SIGINT) else EXIT_PREEMPTED


def signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "SIGINT"


class StopRequest:
    """Record stop signals for the duration of a ``with`` block (main thread only; elsewhere a no-op).

    Attributes:
        signum: the first stop signal received, or None.
        on_signal: optional callable run in the handler (e.g. forwarding to worker processes).
        raise_when: optional callable; when it returns an exception instance the handler raises it
            (a worker drops the video it is on instead of finishing it).
    """

    def __init__(self, on_signal=None, raise_when=None):
        self.signum: int | None = None
        self.on_signal = on_signal
        self.raise_when = raise_when
        self._old: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.signum)

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        if self.signum is None:
            self.signum = signum
            # DataLoader workers die of the same SIGTERM; PyTorch's SIGCHLD handler would raise
            # about it anywhere (in the middle of the checkpoint write): let the loader find out
            # when it is next asked for a batch instead
            if signal.SIGCHLD not in self._old:
                self._old[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if self.on_signal is not None:
                self.on_signal(signum)
        if self.raise_when is not None:
            exc = self.raise_when()
            if exc is not None:
                raise exc

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


def ignore_stop_signals(*_args) -> None:
    """``worker_init_fn`` of DataLoaders: workers leave SIGINT and SIGUSR1 to the main process,
    which finishes its step and shuts them down. SIGTERM keeps its default (the DataLoader and
    multiprocessing end workers with it, and wait for them): a worker killed by the scheduler's
    SIGTERM ends the main process's step early, and the loop then saves the last complete step.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
