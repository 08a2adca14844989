"""Where clips start, and which samples form each batch: deterministic from the seed.

Two kinds of randomness live here, both reproducible without any saved state:

* *per sample*: :func:`sample_rng` gives a NumPy generator from
  ``(seed, epoch, index)``, so a sample draws the same clip start times whatever
  the worker count, the worker that loads it, or whether the run was resumed;
* *per epoch*: :func:`epoch_permutation` orders the dataset from ``(seed,
  epoch)``; :class:`EpochBatchSampler` cuts it into global batches and hands each
  process (DDP rank) and each gradient-accumulation step its micro-batch.
  Position ``k`` inside an epoch is therefore all a checkpoint needs to restore
  the data order.

Micro-batch layout: global batch ``b`` of an epoch is ``perm[b * B:(b + 1) * B]``;
it is cut into ``world_size * accum`` micro-batches of ``m = B / (world_size *
accum)`` samples; rank ``r`` at accumulation step ``a`` gets micro-batch number
``r * accum + a``. So one process with ``accum = 2`` sees exactly the samples
that two DDP ranks with ``accum = 1`` see, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from vssl.errors import InputError


class SampleKey(NamedTuple):
    """What a batch sampler yields per sample: dataset index and epoch (seeds the clip draw)."""

    index: int
    epoch: int


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample in one epoch (independent of workers and resumes)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(index), 0x5EED])


def clip_span(clip_len: int, stride: int) -> int:
    """Frames covered by a clip of ``clip_len`` frames every ``stride``: ``(clip_len - 1) * stride + 1``."""
    return (clip_len - 1) * stride + 1


def clip_indices(t0: int, clip_len: int, stride: int, n_frames: int) -> np.ndarray:
    """Frame indices ``t0, t0 + stride, ...`` of a clip, clipped to the video (last frame repeated)."""
    t = int(t0) + int(stride) * np.arange(clip_len, dtype=np.int64)
    return np.clip(t, 0, max(0, n_frames - 1))


def last_start(n_frames: int, span: int) -> int:
    """Largest start at which a clip of ``span`` frames fits (0 for a video shorter than the clip)."""
    return max(0, int(n_frames) - int(span))


def even_starts(n_frames: int, span: int, n: int) -> np.ndarray:
    """``n`` evenly spaced clip starts in ``[0, n_frames - span]`` (int64), the test clips of evaluation.

    One clip is centred; a video shorter than the clip gets start 0 (its last
    frame is repeated, :func:`clip_indices`).
    """
    hi = last_start(n_frames, span)
    if n == 1:
        return np.array([hi // 2], np.int64)
    return np.rint(np.linspace(0, hi, n)).astype(np.int64)


def sample_starts(n_frames: int, span: int, n: int, rng: np.random.Generator, *, distinct: bool = True) -> list[int]:
    """``n`` clip starts drawn uniformly in ``[0, n_frames - span]``.

    Args:
        distinct: when the video has room for it, all starts differ (two views of
            one video at two different times, the positive pair of MoCo / SimCLR /
            BE / FAME). A video with a single possible start repeats it.
    """
    hi = last_start(n_frames, span)
    if not distinct or hi + 1 < n:
        return [int(x) for x in rng.integers(0, hi + 1, size=n)]
    return [int(x) for x in rng.choice(hi + 1, size=n, replace=False)]


def sample_negative_start(n_frames: int, span: int, t_pos: int, rng: np.random.Generator, *, min_gap: int = 2) -> int:
    """Start of an intra-video negative: another temporal segment of the same video.

    BE / DSM (RECIPES.md): a clip of another segment; when the draw falls within
    ``min_gap`` (2) frames of the positive it is shifted away from it by one clip
    span (towards whichever side has room; the farthest possible start when the
    video is too short for that).
    """
    hi = last_start(n_frames, span)
    t = int(rng.integers(0, hi + 1))
    if abs(t - t_pos) > min_gap:
        return t
    up, down = t_pos + span, t_pos - span
    if up <= hi and down >= 0:
        return up if rng.random() < 0.5 else down
    if up <= hi:
        return up
    if down >= 0:
        return down
    return 0 if t_pos - 0 >= hi - t_pos else hi  # as far as the video allows


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the ``n`` samples in ``epoch``: a permutation fixed by ``(seed, epoch)``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 0xE90C]).permutation(n)


def fit_batch_size(batch_size: int, n: int, *, world_size: int = 1, accum: int = 1) -> int:
    """The global batch a run of ``n`` videos can use: ``batch_size`` itself when it fits, else the
    largest multiple of ``world_size * accum`` that does (a small dataset, e.g. the embedded synth
    one, under a paper recipe's batch; the training loop warns and records it).

    Raises:
        InputError: not even one clip per process and accumulation step fits.
    """
    parts = max(1, world_size) * max(1, accum)
    if batch_size <= n:
        return batch_size
    fit = n // parts * parts
    if fit < 1:
        raise InputError(f"batch size {batch_size} is larger than the dataset ({n} videos) and no smaller batch "
                         f"fits {world_size} process(es) x {accum} accumulation step(s): add videos to the split")
    return fit


class EpochBatchSampler:
    """Micro-batches of :class:`SampleKey` for one rank, one epoch at a time, resumable.

    Args:
        n: dataset size.
        batch_size: global batch (all ranks, all accumulation steps) of one optimizer step.
        seed: run seed (orders each epoch).
        world_size, rank: DDP layout.
        accum: gradient-accumulation steps per optimizer step.

    Call :meth:`set_epoch` before iterating; iteration yields
    ``(steps_per_epoch - start) * accum`` micro-batches of ``micro_batch`` keys
    (the last incomplete global batch of an epoch is dropped).

    Raises:
        InputError: ``batch_size`` not a multiple of ``world_size * accum``, or
            larger than the dataset.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, world_size: int = 1, rank: int = 0, accum: int = 1):
        if batch_size < 1 or accum < 1 or world_size < 1:
            raise InputError(f"batch size, accum and world size must be >= 1 (got {batch_size}, {accum}, {world_size})")
        parts = world_size * accum
        if batch_size % parts:
            raise InputError(
                f"batch size {batch_size} is not divisible by {world_size} process(es) x {accum} accumulation "
                f"step(s); use a multiple of {parts}"
            )
        if batch_size > n:
            fit = n // parts * parts
            hint = f"use --batch-size {fit} or less" if fit else "add videos to the split"
            raise InputError(f"batch size {batch_size} is larger than the dataset ({n} videos): {hint}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.world_size, self.rank, self.accum = world_size, rank, accum
        self.micro_batch = batch_size // parts
        self.steps_per_epoch = n // batch_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch ``epoch`` from global batch ``start`` (a resumed position)."""
        if not 0 <= start <= self.steps_per_epoch:
            raise ValueError(f"start {start} outside 0..{self.steps_per_epoch}")
        self.epoch, self.start = int(epoch), int(start)

    def micro_slice(self, accum_step: int) -> slice:
        """Positions inside a global batch of this rank's micro-batch at ``accum_step``."""
        j = self.rank * self.accum + accum_step
        return slice(j * self.micro_batch, (j + 1) * self.micro_batch)

    def __iter__(self) -> Iterator[list[SampleKey]]:
        perm = epoch_permutation(self.n, self.seed, self.epoch)
        for b in range(self.start, self.steps_per_epoch):
            batch = perm[b * self.batch_size : (b + 1) * self.batch_size]
            for a in range(self.accum):
                yield [SampleKey(int(i), self.epoch) for i in batch[self.micro_slice(a)]]

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start) * self.accum


# --------------------------------------------------------------------------- CMD motion windows


def cmd_window(span: int, gap: int, mv_len: int) -> int:
    """Frames a CMD sample covers: the clip span, ``gap`` skipped frames, then ``mv_len`` future frames."""
    return int(span) + int(gap) + int(mv_len)


def cmd_min_frames(span: int, gap: int, mv_len: int, negatives: int) -> int:
    """Shortest video in which every CMD sample fits (reference sampling).

    The clip, the gap and the future window must fit (the reference's
    ``clip_len + future_interval + future_frames``); with ``negatives > 0`` there
    must also be, for every possible clip start, at least one whole window of
    ``mv_len`` frames before or after the future window that does not overlap it.
    A window before always exists once ``span + gap >= mv_len``; otherwise the
    early clip starts need one after, which costs ``mv_len + d - 1`` more frames
    (``d = mv_len - span - gap``).
    """
    need = cmd_window(span, gap, mv_len)
    d = int(mv_len) - int(span) - int(gap)
    if negatives > 0 and d > 0:
        need += int(mv_len) + d - 1
    return need


def cmd_negative_candidates(n_frames: int, future_start: int, mv_len: int) -> np.ndarray:
    """Starts of every window of ``mv_len`` frames inside the video that does not overlap the
    future window ``[future_start, future_start + mv_len)``: those ending before it and those
    starting after it (the reference's candidates with ``neg_interval = 0``)."""
    before = np.arange(0, max(0, int(future_start) - int(mv_len) + 1), dtype=np.int64)
    after = np.arange(int(future_start) + int(mv_len), max(0, int(n_frames) - int(mv_len) + 1), dtype=np.int64)
    return np.concatenate([before, after])


def sample_cmd_negative_starts(
    n_frames: int, future_start: int, mv_len: int, n: int, rng: np.random.Generator
) -> list[int]:
    """``n`` negative motion windows for CMD, drawn uniformly among :func:`cmd_negative_candidates`.

    Distinct starts (drawn without replacement) unless the video has fewer
    candidate windows than ``n``, then with replacement, as the reference does.

    Raises:
        InputError: no window fits outside the future window (a video shorter
            than :func:`cmd_min_frames`).
    """
    cand = cmd_negative_candidates(n_frames, future_start, mv_len)
    if len(cand) == 0:
        raise InputError(
            f"no negative motion window of {mv_len} frames outside the future window at {future_start} "
            f"in a video of {n_frames} frames"
        )
    return [int(x) for x in rng.choice(cand, size=int(n), replace=len(cand) < int(n))]


def sample_cmd_keyframe(keyframes: np.ndarray, first: int, last: int, margin: int, rng: np.random.Generator) -> int | None:
    """Position ``k`` in ``keyframes`` of a keyframe drawn uniformly among those within ``margin``
    frames of the clip ``[first, last]`` (the reference: +-5 frames); None when there is none."""
    kf = np.asarray(keyframes, np.int64)
    ok = np.flatnonzero((kf >= int(first) - int(margin)) & (kf <= int(last) + int(margin)))
    if len(ok) == 0:
        return None
    return int(ok[int(rng.integers(len(ok)))])


# --------------------------------------------------------------------------- pretext-task clips


def tuple_span(span: int, n_clips: int, gap: int) -> int:
    """Frames a tuple of ``n_clips`` consecutive clips of ``span`` frames covers, ``gap`` frames
    between one clip's end and the next one's start (VCOP: 3 x 16 + 2 x 8 = 64)."""
    return int(n_clips) * int(span) + (int(n_clips) - 1) * int(gap)


def wrap_indices(t0: int, clip_len: int, stride: int, n_frames: int) -> np.ndarray:
    """Frame indices of a clip that restarts at frame 0 when it would run past the last frame.

    Pace prediction's ``loop_load_rgb``: after frame ``t`` comes ``t + stride`` if that is
    still a frame of the video, else frame 0 (and ``stride``, ``2 * stride``, ... after it).
    E.g. ``t0 = 7, clip_len = 5, stride = 3, n_frames = 12`` gives ``7, 10, 0, 3, 6``.
    """
    n = max(1, int(n_frames))
    t, out = int(t0) % n, []
    for _ in range(int(clip_len)):
        out.append(t)
        t = t + int(stride) if t + int(stride) <= n - 1 else 0
    return np.asarray(out, np.int64)
