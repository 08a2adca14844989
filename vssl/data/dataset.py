"""Training clips from a vssl cache: what a pretraining method asks for, batched as uint8.

:class:`ClipDataset` maps a :class:`~vssl.data.sampling.SampleKey` (video index,
epoch) to one sample: the clip views of that video at random start times, and
whatever else the method ``requires`` (an intra-video negative clip, the nearest
keyframe, near-future motion vectors, cached FAME score maps or BE static
frames). All frames are resized to one fixed *load size* so samples batch; the
method crops and augments on the GPU (:mod:`vssl.data.transforms`).

Sample layout (numpy / torch, before collation; ``V`` views, ``T = clip_len``,
``H x W`` = load size):

=============  ==================================  =========================================
key            dtype / shape                       when
=============  ==================================  =========================================
clips          uint8 (V, T, H, W, 3) RGB           always (``decode="cpu"``); ``T = clip_len * clip_factor``
clips_jpeg     V * T JPEG byte arrays              ``decode="gpu"`` (collated into one blob + offsets,
                                                   decoded in the loop on the GPU)
neg            uint8 (T, H, W, 3)                  ``neg_clip`` (``neg_jpeg`` with gpu decode)
keyframe       uint8 (H, W, 3)                     ``keyframe``: an I-frame within ``keyframe_margin``
                                                   frames of the clip (``keyframe_pick``)
mv             float16 (2, T_mv, h, w)             ``mv``: near-future motion (dx, dy) after a gap of
                                                   ``mv_gap`` frames, pixels of the load-size frame
                                                   (``mv_units="load"``) or of the source video
                                                   (``"source"``), grid ``h x w`` = load / 4
mv_neg         float16 (N, 2, T_mv, h, w)          ``mv_negatives`` = N > 0 (``mv_sampling``)
mv_valid       float32 scalar                      ``mv_window="clip"`` (MGM): ``mv`` is the clip span itself;
                                                   the fraction of its frames with vectors
fame_score     uint8 (V, H, W), score * 255        ``fame`` with ``fame_masks="cache"`` (one per view)
static         uint8 (H, W, 3)                     ``static`` with ``static_frames="cache"``
index, label   int64 scalars (label -1 = none)     always
t0             int64 (V,)                          always; ``neg_t0`` with ``neg_clip``
speed          int64 (V,)                          ``speeds`` other than ``(1,)``: each view's stride factor
mv_t0          int64 scalar; mv_neg_t0 (N,)        ``mv``: first frame of the future / negative windows
=============  ==================================  =========================================

Every random choice of a sample comes from :func:`~vssl.data.sampling.sample_rng`
``(seed, epoch, index)``: the same key gives the same sample in any worker.
JPEG decoding is OpenCV in the DataLoader workers (``decode="cpu"``, about
4 500 small frames/s per core, RECIPES.md) or batched on the GPU with
``torchvision.io.decode_jpeg(..., device="cuda")`` (``decode="gpu"``, see
:func:`~vssl.data.gpu_decode.decode_jpeg_batch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vssl.data.frames import FrameCache, resize_frame
from vssl.data.requires import Requires
from vssl.data.sampling import (
    SampleKey,
    clip_indices,
    clip_span,
    cmd_min_frames,
    cmd_window,
    last_start,
    sample_cmd_keyframe,
    sample_cmd_negative_starts,
    sample_negative_start,
    sample_rng,
    sample_starts,
    tuple_span,
    wrap_indices,
)
from vssl.errors import CacheError, InputError
from vssl.io import schema
from vssl.io.cache import BadVideoError, Cache, SkipLog, decode_jpeg

# torchvision's video models were trained with these (Kinetics-400 RGB statistics).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # CMD's reference (cfg.mean / cfg.std) and torchvision's image models
IMAGENET_STD = (0.229, 0.224, 0.225)

DECODERS = ("cpu", "gpu")
FAME_SOURCES = ("online", "cache")
STATIC_SOURCES = ("online", "cache")


def fill_invalid_mv(mv: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace the vector fields of frames without vectors (I-frames) by the previous valid field.

    Leading invalid frames take the first valid field; with no valid frame the
    fields stay zero. ``mv`` (T, ...) is modified in place and returned.
    """
    ok = np.flatnonzero(valid)
    if len(ok) == 0 or len(ok) == len(valid):
        return mv
    src = np.maximum.accumulate(np.where(valid.astype(bool), np.arange(len(valid)), -1))
    src = np.where(src < 0, ok[0], src)
    return mv[src]


def mv_to_load_size(
    mv: np.ndarray,
    valid: np.ndarray,
    src_hw: tuple[int, int],
    load_hw: tuple[int, int],
    grid_hw: tuple[int, int],
    *,
    units: str = "load",
    mv_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Cached vectors -> a dense field in pixels of the load-size frame.

    Args:
        mv: int16 (T, Hg, Wg, 2), quarter-pel of ``mv_hw`` (schema).
        valid: uint8 (T,); frames without vectors are filled by :func:`fill_invalid_mv`.
        src_hw: the source video's (height, width).
        mv_hw: the resolution the vectors are in (:func:`vssl.io.schema.mv_hw`; a re-encoded
            video's may be smaller than the source's); default ``src_hw``.
        load_hw: the load size the clip frames are resized to.
        grid_hw: output grid (each cell covers ``load / grid`` pixels).
        units: ``"load"`` (default) converts the values to load-size pixels;
            ``"source"`` keeps them in pixels of the source video, as the CMD
            reference feeds its encoder (only the grid is resized).

    Returns:
        float16 (2, T, gh, gw): channel 0 = dx, 1 = dy, in load-size (or source)
        pixels, forward motion from frame t-1 to t.
    """
    mv_hw = src_hw if mv_hw is None else mv_hw
    f = mv.astype(np.float32) / schema.MV_SCALE  # pixels of mv_hw
    if units not in ("load", "source"):
        raise ValueError(f"units must be 'load' or 'source', got {units!r}")
    to_hw = load_hw if units == "load" else src_hw
    if tuple(to_hw) != tuple(mv_hw):
        f[..., 0] *= to_hw[1] / max(1, mv_hw[1])
        f[..., 1] *= to_hw[0] / max(1, mv_hw[0])
    f = fill_invalid_mv(f, valid)
    out = np.stack([resize_frame(fr, grid_hw) for fr in f])  # (T, gh, gw, 2)
    return np.ascontiguousarray(out.transpose(3, 0, 1, 2)).astype(np.float16)


class ClipDataset(torch.utils.data.Dataset):
    """Clips of the videos of one split of a cache, with what a method requires.

    Args:
        cache_root: an extracted cache (with frames).
        split, subset: which videos (:meth:`vssl.io.cache.Cache.split`); subset
            ``"all"`` takes every ok video (unlabelled data).
        clip_len, stride: frames per clip and temporal stride.
        size: load size ``(H, W)``: every frame, keyframe, score map and static
            frame is resized to it (default 128 x 171, the usual 4:3 short-side-128
            frame that clips are then cropped from).
        requires: what the method needs (:class:`~vssl.data.requires.Requires`, or a mapping of its fields).
        decode: ``"cpu"`` (OpenCV here) or ``"gpu"`` (raw JPEG bytes, decoded in
            the training loop by :func:`~vssl.data.gpu_decode.decode_jpeg_batch`).
        seed: run seed (with epoch and index it fixes each sample's random draws).
        fame_masks: ``"online"`` (the method computes them, nothing loaded) or
            ``"cache"`` (score maps of ``vssl precompute fame``).
        static_frames: ``"online"`` (the method picks a frame of the clip) or
            ``"cache"`` (frames of ``vssl precompute be``).
        mv_grid: motion-vector grid ``(h, w)``; default the load size / 4 (the
            cache's 4x4-pixel blocks).
        frame_cache_mb: keep up to this many MB of decoded, load-size frames and
            keyframes in each process (:class:`~vssl.data.frames.FrameCache`), so a
            frame sampled again is not decoded again; 0 (default) keeps none. The
            samples are the same either way.

    CMD motion windows (``requires.mv``), ``mv_sampling``:

    * ``"reference"`` (default; the CMD reference's ``MotionPredictionDataset``):
      the clip starts only where the clip span, ``mv_gap`` skipped frames and
      the ``mv_len``-frame future window all fit in the video; the future window
      starts ``mv_gap`` frames after the clip's last frame. The ``mv_negatives``
      negative windows are drawn uniformly among all windows of ``mv_len``
      frames that do not overlap the future window, before or after it, with
      distinct starts (with replacement only when fewer candidates exist).
      Videos too short for this (:func:`~vssl.data.sampling.cmd_min_frames`)
      are **skipped** with one warning naming how many; when none is left,
      InputError.
    * ``"legacy"`` (vssl before the fidelity review): the clip starts anywhere
      a clip fits, the future window right after it is clipped to the video
      (its last field repeated), and negatives come from
      :func:`~vssl.data.sampling.sample_negative_start` (may repeat or overlap
      the future window).

    Pretext-task clips:

    * ``view_gap >= 0`` (VCOP): the ``views`` clips are one tuple, in temporal
      order: view ``i`` starts at ``t0 + i * (span + view_gap)``, ``t0`` drawn
      uniformly where the whole tuple (:func:`~vssl.data.sampling.tuple_span`)
      fits. Videos shorter than the tuple are skipped with one warning (the
      VCOP reference trains on a list of the videos long enough); the method
      shuffles the clips.
    * ``speeds`` (Pace): each view draws its own factor ``s`` uniformly from
      ``speeds`` and takes every ``stride * s``-th frame; ``speed`` (V,) holds
      the factors. Without ``wrap`` it starts where that clip fits (frames
      clipped to the video when it is too short); with ``wrap`` it starts
      uniformly anywhere in the video and continues at frame 0 past the end
      (:func:`~vssl.data.sampling.wrap_indices`), as the Pace reference.

    Raises:
        CacheError: the cache is missing, has no frames, or lacks a precompute
            the options ask for ("run `vssl precompute fame CACHE` first").
        InputError: bad option, an empty split, or (CMD reference sampling) no
            video long enough.
    """

    def __init__(
        self,
        cache_root: str | Path,
        split: str = "1",
        subset: str = "train",
        clip_len: int = 16,
        stride: int = 1,
        size: tuple[int, int] = (128, 171),
        requires: Requires | Mapping[str, Any] | None = None,
        *,
        decode: str = "cpu",
        seed: int = 0,
        fame_masks: str = "online",
        static_frames: str = "online",
        mv_grid: tuple[int, int] | None = None,
        skip_bad: SkipLog | None = None,
        frame_cache_mb: float = 0.0,
    ) -> None:
        self.skip_bad = skip_bad
        self.frame_cache = FrameCache(frame_cache_mb)
        if clip_len < 1 or stride < 1:
            raise InputError(f"clip length and stride must be >= 1 (got {clip_len}, {stride})")
        if decode not in DECODERS:
            raise InputError(f"decode must be one of {', '.join(DECODERS)}, not '{decode}'")
        if fame_masks not in FAME_SOURCES:
            raise InputError(f"--fame-masks must be one of {', '.join(FAME_SOURCES)}, not '{fame_masks}'")
        if static_frames not in STATIC_SOURCES:
            raise InputError(f"--static-frames must be one of {', '.join(STATIC_SOURCES)}, not '{static_frames}'")
        self.root = Path(cache_root)
        self.cache = Cache(self.root)
        self.req = Requires.of(requires)
        self.videos = self.cache.split(split, subset)
        if not self.videos:
            raise InputError(f"no videos in split {split} / {subset} of {self.root}")
        if not self.cache.options.get("frames", True):
            raise CacheError(f"cache {self.root} has no frames (extracted with --no-frames): RGB methods need them")
        self.split, self.subset = str(split), subset
        self.clip_len, self.stride = int(clip_len), int(stride)
        self.view_len = self.clip_len * self.req.clip_factor  # frames loaded per view
        self.span = clip_span(self.view_len, self.stride)
        self.size = (int(size[0]), int(size[1]))
        self.decode, self.seed = decode, int(seed)
        self.mv_grid = tuple(mv_grid) if mv_grid else (max(1, self.size[0] // 4), max(1, self.size[1] // 4))
        self.fame_masks, self.static_frames = fame_masks, static_frames
        self.mv_window = self.span
        if self.req.mv and self.req.mv_window == "future" and self.req.mv_sampling == "reference":
            self.mv_window = cmd_window(self.span, self.req.mv_gap, self.req.mv_len)
            self._drop_short_videos()
        if self.req.view_gap >= 0:
            self.mv_window = tuple_span(self.span, self.req.views, self.req.view_gap)
            self._drop_short_tuples()
        self.cache_whole = bool(self.frame_cache) and self.decoded_bytes() <= self.frame_cache.max_bytes * 0.9
        self.fame_cache = self._precompute("fame") if self.req.fame and fame_masks == "cache" else None
        self.be_cache = self._precompute("be") if self.req.static and static_frames == "cache" else None

    def decoded_bytes(self) -> int:
        """What the split takes decoded: load-size frames (and the stored vectors when the method reads
        them; a bound from the vectors' resolution, 4 x 4 pixels per cell)."""
        total = 0
        for v in self.videos:
            per = self.size[0] * self.size[1] * 3
            if self.req.mv:
                r = v.record
                per += (int(r.get("mv_height") or v.height) // 4 + 1) * (int(r.get("mv_width") or v.width) // 4 + 1) * 4
            total += v.n_frames * per
        return total

    def _read_mv(self, vid: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """``Cache.read_mv(vid, lo, hi)``, from the whole video's vectors kept in the frame cache when
        the split fits in it."""
        if not self.cache_whole:
            return self.cache.read_mv(vid, lo, hi)
        mv, valid = self.frame_cache.get(("mv", vid)), self.frame_cache.get(("mv_valid", vid))
        if mv is None or valid is None:
            mv, valid = self.cache.read_mv_all(vid)
            mv, valid = self.frame_cache.put(("mv", vid), mv), self.frame_cache.put(("mv_valid", vid), valid)
        if lo < 0 or hi > mv.shape[0] or lo >= hi:
            return self.cache.read_mv(vid, lo, hi)  # its one-line error
        return mv[lo:hi], valid[lo:hi]

    def _drop_short_videos(self) -> None:
        """CMD reference sampling: skip the videos too short for clip + gap + future window (+ a negative)."""
        req = self.req
        need = cmd_min_frames(self.span, req.mv_gap, req.mv_len, req.mv_negatives)
        keep = [v for v in self.videos if v.n_frames >= need]
        what = (f"clip span {self.span} + gap {req.mv_gap} + future window {req.mv_len}"
                + (" + a disjoint negative window" if need > self.mv_window else ""))
        if not keep:
            raise InputError(
                f"no video of split {self.split} / {self.subset} has the {need} frames CMD needs ({what}); "
                f"use a shorter clip, stride or cmd.mv_len"
            )
        if len(keep) < len(self.videos):
            import warnings

            warnings.warn(
                f"skipping {len(self.videos) - len(keep)} of {len(self.videos)} videos shorter than {need} frames "
                f"({what})",
                stacklevel=3,
            )
        self.videos = keep

    def _drop_short_tuples(self) -> None:
        """A tuple of consecutive clips (``view_gap``): skip the videos shorter than the tuple."""
        need = self.mv_window
        keep = [v for v in self.videos if v.n_frames >= need]
        what = f"{self.req.views} clips of {self.span} frames, {self.req.view_gap} frames apart"
        if not keep:
            raise InputError(f"no video of split {self.split} / {self.subset} has the {need} frames a tuple needs "
                             f"({what}); use fewer or shorter clips or a smaller gap")
        if len(keep) < len(self.videos):
            import warnings

            warnings.warn(f"skipping {len(self.videos) - len(keep)} of {len(self.videos)} videos shorter than "
                          f"{need} frames ({what})", stacklevel=3)
        self.videos = keep

    def _view_indices(self, n: int, rng: np.random.Generator) -> tuple[list[int], list[np.ndarray], list[int] | None]:
        """Starts, frame indices and speed factors (None: plain views) of the views of one sample."""
        req, views = self.req, self.req.views
        if req.view_gap >= 0:
            t0 = sample_starts(n, self.mv_window, 1, rng)[0]
            starts = [t0 + i * (self.span + req.view_gap) for i in range(views)]
            return starts, [clip_indices(t, self.view_len, self.stride, n) for t in starts], None
        if not req.speed_sampling:
            starts = sample_starts(n, self.mv_window, views, rng)
            return starts, [clip_indices(t, self.view_len, self.stride, n) for t in starts], None
        speeds = [int(x) for x in rng.choice(np.asarray(req.speeds), size=views)]
        starts, idx = [], []
        for s in speeds:
            stride = self.stride * s
            if req.wrap:
                t0 = int(rng.integers(0, max(1, n)))
                idx.append(wrap_indices(t0, self.view_len, stride, n))
            else:
                t0 = int(rng.integers(0, last_start(n, clip_span(self.view_len, stride)) + 1))
                idx.append(clip_indices(t0, self.view_len, stride, n))
            starts.append(t0)
        return starts, idx, speeds

    def _precompute(self, kind: str):
        if not (self.root / kind / schema.MANIFEST).is_file():
            raise CacheError(f"cache {self.root} has no precomputed {kind}: run `vssl precompute {kind} {self.root}` first")
        from vssl.io.precomputed import PrecomputeCache

        pc = PrecomputeCache(self.root, kind)
        missing = [v.id for v in self.videos if v.id not in pc]
        if missing:
            raise CacheError(
                f"{len(missing)} videos of the split have no precomputed {kind} (e.g. '{missing[0]}'): "
                f"run `vssl precompute {kind} {self.root}` again"
            )
        return pc

    def __len__(self) -> int:
        return len(self.videos)

    # ------------------------------------------------------------------ reading
    def _frames(self, vid: str, t: np.ndarray) -> np.ndarray | list[np.ndarray]:
        if self.decode == "gpu":
            return self.cache.read_frames_jpeg(vid, t)
        if not self.frame_cache:
            return np.stack([resize_frame(decode_jpeg(b), self.size) for b in self.cache.read_frames_jpeg(vid, t)])
        fc, t = self.frame_cache, [int(i) for i in t]
        got = [fc.get((vid, i)) for i in t]
        miss = [j for j, img in enumerate(got) if img is None]
        if miss:
            # the whole split fits: read the video's frames once, in one read (the lookups of a read cost
            # more than decoding a small frame); else only the frames asked for
            want = [t[j] for j in miss]
            if self.cache_whole:
                want = list(dict.fromkeys([*range(self.cache.video(vid).n_frames), *want]))
            stored = {i: fc.put((vid, i), resize_frame(decode_jpeg(b), self.size))
                      for i, b in zip(want, self.cache.read_frames_jpeg(vid, want))}
            for j in miss:
                got[j] = stored[t[j]]
        return np.stack(got)

    def _mv(self, v, t_after: int, n_mv: int) -> np.ndarray:
        """Vectors of frames ``t_after, t_after + 1, ...`` (clipped to the video: legacy sampling only)."""
        t = np.clip(t_after + np.arange(n_mv), 0, v.n_frames - 1)
        lo, hi = int(t.min()), int(t.max()) + 1
        mv, valid = self._read_mv(v.id, lo, hi)
        return mv_to_load_size(mv[t - lo], valid[t - lo], (v.height, v.width), self.size, self.mv_grid,
                               units=self.req.mv_units, mv_hw=schema.mv_hw(v.record))

    def _keyframe(self, v, t0: int, rng: np.random.Generator) -> np.ndarray:
        """The keyframe of a clip starting at ``t0``: ``keyframe_pick="window"`` draws one uniformly
        among the I-frames within ``keyframe_margin`` frames of the clip (the CMD reference), falling
        back to the nearest one to the clip centre when there is none; ``"nearest"`` always takes that."""
        centre = min(v.n_frames - 1, t0 + self.span // 2)
        k = None
        kf = (self.frame_cache.get_or_load(("keyframes", v.id), lambda: self.cache.keyframes(v.id))
              if self.cache_whole else self.cache.keyframes(v.id))
        if self.req.keyframe_pick == "window":
            k = sample_cmd_keyframe(kf, t0, t0 + self.span - 1, self.req.keyframe_margin, rng)
        if k is None:
            k, _ = self.cache.nearest_keyframe(v.id, centre, kf)
        return self.frame_cache.get_or_load(("keyframe", v.id, int(k)),
                                            lambda: resize_frame(self.cache.read_keyframe(v.id, k), self.size))

    def __getitem__(self, key: SampleKey | int | tuple) -> dict[str, Any]:
        index, epoch = (int(key), 0) if isinstance(key, (int, np.integer)) else (int(key[0]), int(key[1]))
        for k in range(len(self.videos)):
            i = (index + k) % len(self.videos)
            try:
                with self.cache.reading(self.videos[i].id):
                    return self._sample(i, epoch)
            except BadVideoError as e:
                if self.skip_bad is None:
                    raise
                self.skip_bad.skipped(e)  # logged once; the next video of the order takes its place
        raise CacheError(f"no video of {self.root} can be read (every one failed; see the skipped list)")

    def _sample(self, index: int, epoch: int) -> dict[str, Any]:
        v = self.videos[index]
        rng = sample_rng(self.seed, epoch, index)
        n = v.n_frames
        req = self.req
        starts, view_idx, speeds = self._view_indices(n, rng)
        out: dict[str, Any] = {
            "index": np.int64(index),
            "label": np.int64(-1 if v.label is None else v.label),
            "t0": np.asarray(starts, np.int64),
        }
        if speeds is not None:
            out["speed"] = np.asarray(speeds, np.int64)
        views = [self._frames(v.id, t) for t in view_idx]
        if self.decode == "gpu":
            out["clips_jpeg"] = [b for view in views for b in view]
        else:
            out["clips"] = np.stack(views)
        if req.neg_clip:
            t_neg = sample_negative_start(n, self.span, starts[0], rng)
            out["neg_t0"] = np.int64(t_neg)
            neg = self._frames(v.id, clip_indices(t_neg, self.view_len, self.stride, n))
            out["neg_jpeg" if self.decode == "gpu" else "neg"] = neg
        if req.keyframe:
            out["keyframe"] = self._keyframe(v, starts[0], rng)
        if req.mv and req.mv_window == "clip":  # the vectors of every frame of the clip span (MGM)
            t = np.arange(starts[0], starts[0] + self.span)
            out["mv"] = self._mv(v, starts[0], self.span)
            _, valid = self._read_mv(v.id, int(t[0]), int(min(t[-1] + 1, n)))
            out["mv_valid"] = np.float32(valid.mean()) if len(valid) else np.float32(0.0)
            out["mv_t0"] = np.int64(starts[0])
        elif req.mv:
            n_mv, n_neg = req.mv_len, req.mv_negatives
            if req.mv_sampling == "reference":
                t_fut = starts[0] + self.span + req.mv_gap  # inside the video by the start draw
                out["mv"] = self._mv(v, t_fut, n_mv)
                if n_neg > 0:
                    t_negs = sample_cmd_negative_starts(n, t_fut, n_mv, n_neg, rng)
                    out["mv_neg"] = np.stack([self._mv(v, t, n_mv) for t in t_negs])
                    out["mv_neg_t0"] = np.asarray(t_negs, np.int64)
                out["mv_t0"] = np.int64(t_fut)
            else:  # legacy: future window clipped to the video; negatives may repeat or overlap it
                out["mv_t0"] = np.int64(starts[0] + self.span + req.mv_gap)
                out["mv"] = self._mv(v, int(out["mv_t0"]), n_mv)
                if n_neg > 0:
                    t_negs = [sample_negative_start(n, self.span + n_mv, starts[0], rng, min_gap=n_mv) + self.span
                              for _ in range(n_neg)]
                    out["mv_neg"] = np.stack([self._mv(v, t, n_mv) for t in t_negs])
                    out["mv_neg_t0"] = np.asarray(t_negs, np.int64)
        if self.fame_cache is not None:
            out["fame_score"] = np.stack(
                [resize_frame(self.fame_cache.read_window(v.id, t0)[..., None], self.size)[..., 0] for t0 in starts]
            )
        if self.be_cache is not None:
            frames = self.be_cache.read_window(v.id, starts[0])  # (K, h, w, 3)
            out["static"] = resize_frame(frames[int(rng.integers(len(frames)))], self.size)
        return out


# --------------------------------------------------------------------------- batching


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch: arrays become tensors ``(B, ...)``.

    ``*_jpeg`` lists (GPU decoding) become one uint8 tensor of all the JPEG bytes,
    sample-major, with int64 ``*_jpeg_offsets`` ``(N + 1,)`` and ``*_jpeg_count``
    (JPEGs per sample): two tensors that pin and copy fast, split again by
    :func:`~vssl.data.gpu_decode.decode_batch_on_device`.
    """
    out: dict[str, Any] = {}
    for key in samples[0]:
        vals = [s[key] for s in samples]
        if key.endswith("_jpeg"):
            blobs = [np.asarray(b, np.uint8) for v in vals for b in v]
            out[key] = torch.from_numpy(np.concatenate(blobs))
            out[key + "_offsets"] = torch.from_numpy(np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64))
            out[key + "_count"] = torch.tensor(len(vals[0]))
        else:
            out[key] = torch.from_numpy(np.stack([np.asarray(x) for x in vals]))
    return out
