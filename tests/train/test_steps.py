"""The shared resumable step loop (vssl.train.steps.run_steps) on a fake sampler and loader: where it
saves, how epochs roll over, that a resumed call sees the batches an uninterrupted one does, and that
a stop signal (or a loader killed by it) saves and raises Stopped with the caller's message."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from vssl.errors import Stopped
from vssl.signals import StopRequest
from vssl.train.steps import Position, run_steps

SPE = 3  # batches per epoch


class Sampler:
    """Batches ``(epoch, b)`` for b from the start the loop set; records every set_epoch."""

    def __init__(self):
        self.calls, self.epoch, self.start = [], 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.calls.append((epoch, start))
        self.epoch, self.start = epoch, start

    def __iter__(self):
        return iter([(self.epoch, b) for b in range(self.start, SPE)])


class Run:
    """One call of run_steps with recording callbacks; ``fail_at``: the loader raises at that batch
    (a killed worker), after asking for a stop when ``stop_first``; ``stop_after``: a signal during that step."""

    def __init__(self, position=None, *, stop_after=None, fail_at=None, stop_first=True, signum=signal.SIGTERM):
        self.position = position or Position()
        self.sampler, self.stop = Sampler(), StopRequest()  # not entered: the test sets signum itself
        self.batches, self.seen, self.saves = [], [], []
        self.stop_after, self.fail_at, self.stop_first, self.signum = stop_after, fail_at, stop_first, signum
        self.fetched = 0

    def loader(self):
        for b in self.sampler:
            self.fetched += 1
            if self.fetched == self.fail_at:
                if self.stop_first:
                    self.stop.signum = self.signum
                raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Terminated.")
            yield b

    def step(self, batch, p: Position) -> None:
        self.batches.append(batch)
        self.seen.append((p.epoch, p.pos, p.step))
        if self.stop_after is not None and p.step + 1 == self.stop_after:
            self.stop.signum = self.signum

    def save(self) -> None:
        self.saves.append(dataclasses.astuple(self.position))

    def __call__(self, *, epochs=2, limit=None, save_every=100) -> int:
        return run_steps(self.position, epochs=epochs, limit=epochs * SPE if limit is None else limit,
                         sampler=self.sampler, loader=self.loader, step=self.step, save=self.save,
                         save_every=save_every, stop=self.stop,
                         stop_message=lambda workers: f"stopped at {self.position.step} workers={workers}")


def test_saves_every_n_steps_and_at_each_epoch_end():
    r = Run()
    assert r(epochs=2, save_every=2) == 6
    assert r.sampler.calls == [(0, 0), (1, 0)]
    assert r.batches == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert r.seen == [(0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 3), (1, 1, 4), (1, 2, 5)]  # the step in progress
    # (epoch, pos, step, done): steps 2, 4, 6 and both epoch ends (step 6 is both)
    assert r.saves == [(0, 2, 2, False), (1, 0, 3, False), (1, 1, 4, False), (1, 3, 6, False), (2, 0, 6, True)]
    assert dataclasses.astuple(r.position) == (2, 0, 6, True)
    assert r() == 0 and r.saves[-1] == (2, 0, 6, True) and len(r.saves) == 5  # done: nothing more, no save


@pytest.mark.parametrize("limit", [0, 2, 3, 4])
def test_a_limit_stops_where_a_later_call_continues(limit):
    straight = Run()
    straight()
    first = Run()
    assert first(limit=limit) == limit
    at = dataclasses.astuple(first.position)
    assert at == (limit // SPE, limit % SPE, limit, False)
    assert first.saves == {0: [], 2: [(0, 2, 2, False)], 3: [(1, 0, 3, False)],  # the epoch end, then
                           4: [(1, 0, 3, False), (1, 1, 4, False)]}[limit]  # the stop inside the next epoch
    second = Run(Position(*at))
    assert second() == 2 * SPE - limit
    assert second.sampler.calls[0] == (limit // SPE, limit % SPE)  # resumed at (epoch, pos)
    assert first.batches + second.batches == straight.batches
    assert first.seen + second.seen == straight.seen
    assert dataclasses.astuple(second.position) == (2, 0, 6, True)


def test_a_stop_request_saves_and_raises_the_callers_message():
    r = Run(stop_after=2, signum=signal.SIGINT)
    with pytest.raises(Stopped, match=r"^stopped at 2 workers=False$") as e:
        r()
    assert e.value.exit_code == 130
    assert r.saves == [(0, 2, 2, False)] and len(r.batches) == 2
    again, straight = Run(Position(*r.saves[-1])), Run()
    again()
    straight()
    assert r.batches + again.batches == straight.batches  # the rerun continues from the saved position


def test_a_stop_at_the_last_step_ends_the_run_as_usual():
    r = Run(stop_after=4)
    assert r(limit=4) == 4  # no Stopped: the run stops at its limit anyway
    assert r.saves == [(1, 0, 3, False), (1, 1, 4, False)]


def test_a_loader_killed_by_the_stop_saves_the_last_step_and_raises():
    r = Run(fail_at=5)  # the second batch of epoch 1: step 4 was the last one done
    with pytest.raises(Stopped, match=r"^stopped at 4 workers=True$") as e:
        r()
    assert e.value.exit_code == 75
    assert r.saves == [(1, 0, 3, False), (1, 1, 4, False)] and len(r.batches) == 4


def test_other_failures_propagate_without_a_save():
    r = Run(fail_at=2, stop_first=False)  # a loader error without a stop signal
    with pytest.raises(RuntimeError, match="killed by signal"):
        r()
    assert r.saves == [] and dataclasses.astuple(r.position) == (0, 1, 1, False)

    class Boom(Exception):
        pass

    r = Run()
    r.step = lambda batch, p: (_ for _ in ()).throw(Boom()) if p.step == 1 else None
    with pytest.raises(Boom):
        r()
    assert r.saves == [] and dataclasses.astuple(r.position) == (0, 1, 1, False)  # the failed step is not counted
