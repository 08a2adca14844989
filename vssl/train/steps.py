"""The resumable step loop shared by the training runs that need no more than it: epochs of batches from
a loader, a checkpoint every ``save_every`` steps and at each epoch end, and a stop signal turned into
save + :class:`vssl.errors.Stopped` after the step in progress.

:func:`run_steps` owns the bookkeeping only (where the run is, when to save, when to stop); what a step
does (forward, backward, logging), what a checkpoint holds and what a stop message says are the
caller's. The position (:class:`Position`) is all a checkpoint needs to continue: the sampler is set to
``(epoch, pos)`` at each epoch start, so a resumed run sees the batches an uninterrupted one does.

``vssl eval finetune`` runs on it. The pretraining loop (:mod:`vssl.train.loop`) keeps its own: its
steps pull micro-batches themselves (gradient accumulation), a worker death mid-step must not be
saved, DDP ranks agree on a stop, and it saves at ``save_every`` and the last step but not at epoch ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from vssl.errors import Stopped
from vssl.signals import StopRequest


class EpochSampler(Protocol):
    """What the loop asks of a sampler (:class:`vssl.data.sampling.EpochBatchSampler`): start an epoch at a batch."""

    def set_epoch(self, epoch: int, start: int = 0) -> None: ...


@dataclass
class Position:
    """Where a resumable run is; what its checkpoint records to continue."""

    epoch: int = 0  # the epoch in progress
    pos: int = 0  # batches of that epoch done
    step: int = 0  # steps done in all
    done: bool = False  # all epochs done


def run_steps(
    position: Position,
    *,
    epochs: int,
    limit: int,
    sampler: EpochSampler,
    loader: Callable[[], Iterable[Any]],
    step: Callable[[Any, Position], None],
    save: Callable[[], None],
    save_every: int,
    stop: StopRequest,
    stop_message: Callable[[bool], str],
) -> int:
    """Run steps from ``position`` (updated in place) until all ``epochs`` are done or ``limit`` steps are.

    Each epoch: ``sampler.set_epoch(epoch, pos)``, then the batches of ``loader()`` (called once per
    epoch, after the sampler is set), one ``step(batch, position)`` each; ``position`` still says the step
    in progress (``position.step`` steps done before it) and is advanced when ``step`` returns. The loader
    running out ends the epoch (``done`` after the last one); reaching ``limit`` stops inside an epoch
    without ending it, so a later call with a higher limit goes on where this one stopped.

    ``save()`` (the caller's checkpoint of ``position`` and its own state) runs every ``save_every`` steps
    and after every epoch end or stop at ``limit``. A stop asked for on ``stop`` (a :class:`StopRequest`
    the caller has entered) ends the run after the step in progress: save, then :class:`Stopped` with
    ``stop_message(False)`` and the signal's exit code; not after the step that reaches ``limit`` (the run
    then ends as it would have). A loader that fails while a stop is asked for (its worker processes got
    the same SIGTERM) fails between two steps, where the state is the last step's: save, then
    :class:`Stopped` with ``stop_message(True)``. Any other exception propagates, nothing saved.

    Returns:
        The number of steps this call ran.
    """
    ran = 0
    while not position.done and position.step < limit:
        epoch = position.epoch
        sampler.set_epoch(epoch, position.pos)
        it = iter(loader())
        while True:
            try:
                batch = next(it)
            except StopIteration:
                position.epoch, position.pos = epoch + 1, 0
                position.done = position.epoch >= epochs
                break
            except Exception:  # RuntimeError or OSError (connection reset) from a killed worker
                if not stop.requested:
                    raise
                save()
                raise Stopped(stop_message(True), stop.exit_code) from None
            if position.step >= limit:
                break
            step(batch, position)
            position.step += 1
            position.pos += 1
            ran += 1
            if position.step % save_every == 0:
                save()
            if stop.requested and position.step < limit:  # (the last step: the run ends as it would have)
                save()
                raise Stopped(stop_message(False), stop.exit_code)
        it = None
        save()
    return ran
