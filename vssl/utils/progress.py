"""The one progress reporter: a rich bar on a terminal, plain lines otherwise (logs, CI, pipes).

``Progress(desc, total)`` counts ``total`` items (``advance``) or follows a position
(``update``), optionally with a text of the latest numbers (``stats``, e.g. the pretraining
loss). Off a terminal it writes ``"{label} {done}/{total}  {stats}"`` to stderr at the first
report, then at most every ``every_s`` seconds, and at the end; a reporter with ``stats=True``
writes only when it is given a text. Disabled (``enabled=False``) or with nothing to count it
does nothing.
"""

from __future__ import annotations

import time


class Progress:
    """Progress of ``total`` items, from ``start``.

    Args:
        desc: what is counted (the bar's title).
        total: items in all.
        start: items done already (a resumed run).
        enabled: False: a no-op (``--quiet``, non-zero ranks).
        transient: remove the bar when done (terminal only).
        stats: show the text given to :meth:`update` / :meth:`advance` (terminal: a column).
        every_s: seconds between two plain lines.
        label: the plain lines' first word (default ``desc``).
    """

    def __init__(self, desc: str, total: int, *, start: int = 0, enabled: bool = True, transient: bool = True,
                 stats: bool = False, every_s: float = 30.0, label: str | None = None):
        from rich.console import Console

        self.desc, self.total, self.done = desc, int(total), int(start)
        self.enabled = bool(enabled) and self.total > 0
        self.stats, self.every_s, self.label = stats, every_s, label or desc
        self.console = Console(stderr=True)
        self._last_print = 0.0
        self._bar = None
        if self.enabled and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            cols = ["[progress.description]{task.description}", BarColumn(), MofNCompleteColumn()]
            if stats:
                cols.append(TextColumn("{task.fields[stats]}"))
            cols += [TimeElapsedColumn(), TimeRemainingColumn()]
            self._bar = RichProgress(*cols, console=self.console, transient=transient)
            self._task = self._bar.add_task(desc, total=self.total, completed=self.done, stats="")
            self._bar.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def advance(self, n: int = 1, stats: str | None = None) -> None:
        """``n`` more items done."""
        self.update(self.done + n, stats)

    def update(self, done: int, stats: str | None = None) -> None:
        """``done`` items done in all; ``stats``: the text shown beside the count."""
        if not self.enabled:
            return
        self.done = int(done)
        if self._bar is not None:
            kw = {"stats": stats} if stats is not None else {}
            self._bar.update(self._task, completed=self.done, **kw)
            return
        if self.stats and stats is None:
            return
        now = time.time()
        if now - self._last_print >= self.every_s or self.done >= self.total:
            self._last_print = now
            tail = f" {stats}" if stats else ""
            self.console.print(f"{self.label} {self.done}/{self.total}{tail}", highlight=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
