"""Precomputed sub-caches of a cache (``vssl precompute fame|be``): format, reader, checks.

Layout (same shard machinery as the extract cache, :mod:`vssl.io.shards`)::

    CACHE/fame/manifest.json   kind "fame": options, extract_manifest_checksum, one record per video
    CACHE/fame/shards/*.h5     + *.json sidecars (commit marks)
    CACHE/be/...               kind "be", the same

A manifest record: ``id, status, reason`` (failed), ``n_frames, n_windows,
window, stride, height, width`` (the stored maps/frames), ``checksum``,
``extract_checksum`` (the extract record's checksum the data was made from),
``shard, group``. With ``--num-shards K`` each part writes
``manifest.partIIIofKKK.json``; the part that finds all K parts done joins them
into ``manifest.json``.

Windows: ``starts = 0, stride, 2 * stride, ...`` while ``start + window <= n_frames``;
window ``i`` covers frames ``[starts[i], starts[i] + window)`` of the video.

Per video group ``/v/<key>`` (``key`` = :func:`vssl.io.schema.video_key`) of a
**fame** shard:

=================  ==========================  ==================================================
dataset            dtype / shape               meaning
=================  ==========================  ==================================================
starts             int32 (N,)                  first frame of each window
score              uint8 (N, Hs, Ws)           FAME soft foreground score of the window, 0..255
                                               (score = value / 255, 1 = most foreground-like)
=================  ==========================  ==================================================

``Hs x Ws = round(H * scale) x round(W * scale)`` for the cached frame size
``H x W`` (``--scale``, default 1: the cached resolution). The map is not
thresholded: training crops and flips it with the clip, resizes it to the crop
size and keeps the top ``beta`` fraction (``beta`` is a training option).

**be** shard:

=================  ==========================  ==================================================
starts             int32 (N,)                  first frame of each window
static_t           int32 (N, K)                frame index of each stored static frame
                                               (``kind = random``); -1 for ``kind = median``
static_jpeg        uint8 (bytes,)              JPEGs, concatenated (RGB once decoded, H x W)
static_offsets     int64 (N * K + 1,)          byte offsets: frame ``k`` of window ``i`` is
                                               entry ``i * K + k``
=================  ==========================  ==================================================

``kind = random`` copies the cached JPEG bytes of ``K`` distinct frames of each
window, chosen by ``numpy.random.default_rng([seed, hash(video id)])`` (the
same frames whatever the worker count or order). ``kind = median`` stores one
JPEG (``K = 1``) of the per-pixel temporal median of the window's frames.

Reading: :class:`PrecomputeCache`. Checking: the functions here, listed in
:func:`vssl.io.verify.subcache_checkers`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vssl.errors import CacheError, InputError
from vssl.io import schema
from vssl.io.cache import ShardPool, ShardReader, _slice_jpegs, decode_jpeg
from vssl.io.manifest import load_manifest

KINDS = ("fame", "be")
SCORE_SCALE = 255  # stored uint8 value = round(score * SCORE_SCALE)


def window_starts(n_frames: int, window: int, stride: int) -> np.ndarray:
    """First frames of the windows of a video: ``0, stride, ...`` while ``start + window <= n_frames``."""
    if n_frames < window:
        return np.zeros(0, np.int32)
    return np.arange(0, n_frames - window + 1, stride, dtype=np.int32)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Stored score map size ``(round(H * scale), round(W * scale))``, at least 1 x 1."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def _hash_rows(h, ds, rows: int = 64) -> None:
    for i in range(0, ds.shape[0], rows):
        h.update(np.ascontiguousarray(ds[i : i + rows]).tobytes())


def data_checksum(group, kind: str) -> str:
    """Checksum of one video group's arrays (written by precompute, re-computed by verify)."""
    h = hashlib.blake2b(digest_size=16)
    names = ("starts", "score") if kind == "fame" else ("starts", "static_t", "static_offsets", "static_jpeg")
    for name in names:
        h.update(name.encode() + b"=")
        if name in group:
            ds = group[name]
            if ds.ndim > 1:
                _hash_rows(h, ds)
            else:
                h.update(np.ascontiguousarray(ds[:]).tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- verify


def check_fame_video(g, rec: dict, where: str) -> list[str]:
    """Problems in one fame group (empty = fine): datasets, shapes, starts, checksum."""
    problems = []
    for name in ("starts", "score"):
        if name not in g:
            problems.append(f"{where}: dataset '{name}' missing")
    if problems:
        return problems
    n, hh, ww = int(rec["n_windows"]), int(rec["height"]), int(rec["width"])
    if g["score"].shape != (n, hh, ww) or g["score"].dtype != np.uint8:
        problems.append(f"{where}: score is {g['score'].shape} {g['score'].dtype}, expected ({n}, {hh}, {ww}) uint8")
    starts = g["starts"][:]
    if not np.array_equal(starts, window_starts(int(rec["n_frames"]), int(rec["window"]), int(rec["stride"]))):
        problems.append(f"{where}: window starts do not match n_frames / window / stride")
    if data_checksum(g, "fame") != rec.get("checksum"):
        problems.append(f"{where}: checksum mismatch (score map changed since precompute)")
    return problems


def check_be_video(g, rec: dict, where: str) -> list[str]:
    """Problems in one be group: datasets, shapes, JPEG decodability and size, checksum."""
    import cv2

    problems = []
    for name in ("starts", "static_t", "static_jpeg", "static_offsets"):
        if name not in g:
            problems.append(f"{where}: dataset '{name}' missing")
    if problems:
        return problems
    n, k = int(rec["n_windows"]), int(rec["k"])
    hh, ww = int(rec["height"]), int(rec["width"])
    if g["static_t"].shape != (n, k):
        problems.append(f"{where}: static_t is {g['static_t'].shape}, expected ({n}, {k})")
    if not np.array_equal(g["starts"][:], window_starts(int(rec["n_frames"]), int(rec["window"]), int(rec["stride"]))):
        problems.append(f"{where}: window starts do not match n_frames / window / stride")
    o = g["static_offsets"][:]
    blob = g["static_jpeg"][:]
    if len(o) != n * k + 1 or o[0] != 0 or o[-1] != blob.shape[0] or np.any(np.diff(o) <= 0):
        problems.append(f"{where}: static_offsets do not match static_jpeg ({len(o) - 1} entries for {n} x {k})")
    else:
        for i in range(len(o) - 1):
            img = cv2.imdecode(blob[o[i] : o[i + 1]], cv2.IMREAD_COLOR)
            if img is None:
                problems.append(f"{where}: static_jpeg[{i}] does not decode")
                break
            if img.shape[:2] != (hh, ww):
                problems.append(f"{where}: static_jpeg[{i}] is {img.shape[1]}x{img.shape[0]}, expected {ww}x{hh}")
                break
    if data_checksum(g, "be") != rec.get("checksum"):
        problems.append(f"{where}: checksum mismatch (static frames changed since precompute)")
    return problems


# ----------------------------------------------------------------------------- reader


def load_precompute_manifest(cache_root: str | Path, kind: str) -> dict:
    """The manifest of ``CACHE/<kind>``; one-line CacheError if the cache or the precompute is missing."""
    if kind not in KINDS:
        raise InputError(f"unknown precompute kind '{kind}' (one of {', '.join(KINDS)})")
    root = Path(cache_root)
    load_manifest(root, "extract")  # the cache itself: missing / other version
    sub = root / kind
    if not (sub / schema.MANIFEST).is_file():
        parts = sorted(sub.glob("manifest.part*.json")) if sub.is_dir() else []
        more = f" (only {len(parts)} part manifest(s): run the remaining --shard-index parts)" if parts else ""
        raise CacheError(f"no precomputed {kind} in {root}{more}: run `vssl precompute {kind} {root}` first")
    return load_manifest(sub, kind)


class PrecomputeCache(ShardReader):
    """Random access to ``CACHE/fame`` or ``CACHE/be``.

    HDF5 handles are opened lazily, once per process (:class:`vssl.io.cache.ShardPool`),
    so an instance can be handed to DataLoader workers.

    Raises:
        CacheError: the cache or the precompute is missing, of another schema, or
            stale (a video was extracted again after the precompute).
    """

    def __init__(self, cache_root: str | Path, kind: str):
        self.cache_root = Path(cache_root)
        self.kind = kind
        self.manifest = load_precompute_manifest(self.cache_root, kind)
        self.root = self.cache_root / kind
        self.options = self.manifest.get("options", {})
        self.window = int(self.options.get("window", 0))
        self.stride = int(self.options.get("stride", 0))
        self.records = {r["id"]: r for r in self.manifest["videos"] if r.get("status") == schema.OK}
        self.failed = {r["id"]: r.get("reason", "") for r in self.manifest["videos"] if r.get("status") != schema.OK}
        extract = load_manifest(self.cache_root, "extract")
        now = {r["id"]: r.get("checksum") for r in extract["videos"] if r.get("status") == schema.OK}
        stale = [v for v, r in self.records.items() if r.get("extract_checksum") != now.get(v)]
        if stale:
            raise CacheError(
                f"{len(stale)} videos of {self.root} were precomputed from other extracted data (e.g. "
                f"'{stale[0]}'): run `vssl precompute {kind} {self.cache_root} --force`"
            )
        self._starts: dict[str, np.ndarray] = {}
        self._pool = ShardPool(self.root)

    @property
    def videos(self) -> list[str]:
        """Ids of the videos with precomputed data (sorted)."""
        return sorted(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, vid: str) -> bool:
        return vid in self.records

    def record(self, vid: str) -> dict:
        try:
            return self.records[vid]
        except KeyError:
            why = f" (failed: {self.failed[vid]})" if vid in self.failed else ""
            raise InputError(f"video '{vid}' has no precomputed {self.kind} in {self.root}{why}") from None

    def window_starts(self, vid: str) -> np.ndarray:
        """int32 ``(N,)``: first frame of every window of ``vid``."""
        s = self._starts.get(vid)
        if s is None:
            r = self.record(vid)
            s = window_starts(int(r["n_frames"]), int(r["window"]), int(r["stride"]))
            self._starts[vid] = s
        return s

    def window_index(self, vid: str, t0: int) -> int:
        """Index of the window whose start is nearest to ``t0`` (the earlier one on a tie)."""
        s = self.window_starts(vid)
        return int(np.argmin(np.abs(s.astype(np.int64) - int(t0))))

    def _group(self, vid: str):
        r = self.record(vid)
        return self._pool.group(r["shard"], r["group"])

    def read_window(self, vid: str, t0: int) -> np.ndarray:
        """Data of the window whose start is nearest to ``t0``.

        Returns:
            fame: uint8 ``(Hs, Ws)`` soft score, ``value / 255`` in [0, 1].
            be: uint8 ``(K, H, W, 3)`` RGB static frames.
        """
        i = self.window_index(vid, t0)
        g = self._group(vid)
        if self.kind == "fame":
            return g["score"][i]
        k = int(self.record(vid)["k"])
        jpegs = _slice_jpegs(g, "static_jpeg", "static_offsets", np.arange(i * k, (i + 1) * k))
        return np.stack([decode_jpeg(b) for b in jpegs])

    def read_score(self, vid: str, t0: int) -> np.ndarray:
        """fame only: float32 ``(Hs, Ws)`` score in [0, 1] of the window nearest ``t0``."""
        if self.kind != "fame":
            raise InputError("read_score is for the fame precompute")
        return self.read_window(vid, t0).astype(np.float32) / SCORE_SCALE

    def static_frame_index(self, vid: str, t0: int) -> np.ndarray:
        """be only: int32 ``(K,)`` frame indices of the stored static frames (-1 = median)."""
        i = self.window_index(vid, t0)
        return self._group(vid)["static_t"][i]
