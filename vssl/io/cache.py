"""Random access to a vssl cache for training and evaluation.

``Cache`` reads the manifest eagerly (small) and opens HDF5 shards lazily, once
per process: a ``Cache`` built in the main process and sent to DataLoader
workers opens its own handles in each worker (the pid is checked on every
access), so no HDF5 handle is ever shared across processes.

Layouts returned (see :mod:`vssl.io.schema` for units):
    frames      uint8 numpy (T, H, W, 3) RGB, H x W = stored size
    mv          int16 numpy (T, Hg, Wg, 2) forward motion, quarter-pel of the source
    mv_valid    uint8 numpy (T,)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vssl.errors import CacheError, InputError
from vssl.io import schema
from vssl.io.manifest import load_manifest


@dataclass(frozen=True)
class VideoInfo:
    """One ok video of a cache (a manifest record, typed)."""

    id: str
    label: int | None
    class_name: str | None
    splits: dict
    shard: str
    group: str
    n_frames: int
    n_keyframes: int
    stored_width: int
    stored_height: int
    width: int
    height: int
    fps: float
    record: dict

    @classmethod
    def from_record(cls, r: dict) -> "VideoInfo":
        return cls(
            id=r["id"], label=r.get("label"), class_name=r.get("class_name"), splits=r.get("splits") or {},
            shard=r["shard"], group=r["group"], n_frames=int(r["n_frames"]),
            n_keyframes=int(r.get("n_keyframes", 0)), stored_width=int(r.get("stored_width", 0)),
            stored_height=int(r.get("stored_height", 0)), width=int(r.get("width", 0)),
            height=int(r.get("height", 0)), fps=float(r.get("fps", 0.0)), record=r,
        )


def decode_jpeg(data: np.ndarray | bytes, fn=None) -> np.ndarray:
    """JPEG bytes -> uint8 (H, W, 3) RGB (OpenCV; about 4 500 small frames/s per core).

    ``fn`` (e.g. a resize) is applied to the decoded frame while it is still BGR and contiguous, and the
    result converted to RGB after it with ``cv2.cvtColor``: OpenCV is several times slower on the
    negative-stride view a ``[..., ::-1]`` gives, and numpy's copy of such a view is slower still.
    """
    import cv2

    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise CacheError("a stored JPEG does not decode (run `vssl verify`)")
    return cv2.cvtColor(img if fn is None else fn(img), cv2.COLOR_BGR2RGB)


class ShardPool:
    """Lazily opened, per-process read handles on the shards of one cache directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._pid = None
        self._files: dict[str, object] = {}
        self._datasets: dict[tuple[str, str, str], object] = {}

    def __getstate__(self):
        return {"root": self.root, "_pid": None, "_files": {}, "_datasets": {}}

    def file(self, rel: str):
        from vssl.io.h5 import load_h5py

        h5py = load_h5py()

        pid = os.getpid()
        if self._pid != pid:  # new process (DataLoader worker, fork): never reuse handles
            self._files, self._datasets = {}, {}
            self._pid = pid
        f = self._files.get(rel)
        if f is None:
            path = self.root / rel
            if not path.exists():
                raise CacheError(f"shard missing: {path} (cache incomplete; run `vssl verify {self.root}`)")
            try:
                f = h5py.File(path, "r")
            except OSError as e:
                raise CacheError(f"cannot open shard {path}: {e}") from None
            self._files[rel] = f
        return f

    def group(self, shard: str, group: str):
        return self.file(shard)[group]

    def dataset(self, shard: str, group: str, name: str):
        """The dataset ``group/name`` of ``shard``, its handle kept: a lookup through h5py's groups
        costs more than reading a 16-frame motion clip (~0.15 of ~0.3 ms)."""
        f = self.file(shard)  # first: resets the handles in a new process
        key = (shard, group, name)
        ds = self._datasets.get(key)
        if ds is None:
            ds = self._datasets[key] = f[group][name]
        return ds

    def close(self) -> None:
        for f in self._files.values():
            try:
                f.close()
            except Exception:
                pass
        self._files, self._datasets = {}, {}


class ShardReader:
    """``close()`` and ``with`` of the readers that keep their :class:`ShardPool` in ``_pool``."""

    _pool: ShardPool

    def close(self) -> None:
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _slice_jpegs(group, data_name: str, off_name: str, idx: np.ndarray) -> list[np.ndarray]:
    """Read the JPEG byte strings ``idx`` (sorted) with one contiguous read."""
    if len(idx) == 0:
        return []
    offs = group[off_name]
    lo, hi = int(idx.min()), int(idx.max())
    o = offs[lo : hi + 2]
    blob = group[data_name][int(o[0]) : int(o[-1])]
    base = int(o[0])
    return [blob[int(o[i - lo]) - base : int(o[i - lo + 1]) - base] for i in idx]


class BadVideoError(CacheError):
    """One video of a cache cannot be read (missing shard, damaged bytes); ``video`` names it."""

    def __init__(self, message: str, video: str = "", shard: str = ""):
        super().__init__(message)
        self.video, self.shard = video, shard

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (str(self), self.video, self.shard))


class SkipLog:
    """``--skip-bad-videos``: a video that cannot be read is logged once (a warning line and a
    JSON line in ``path``) and left out; the count goes to run.json and the metrics."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._seen: set[str] = set()

    def skipped(self, e: BadVideoError) -> None:
        import json
        import sys

        if e.video in self._seen:
            return
        self._seen.add(e.video)
        if self.path is not None:
            if e.video in self.read(self.path):  # another worker process logged it already
                return
            with open(self.path, "a", encoding="utf-8") as f:  # one short O_APPEND write per video
                f.write(json.dumps({"video": e.video, "shard": e.shard, "reason": str(e)}) + "\n")
        print(f"warning: --skip-bad-videos: left out: {e}", file=sys.stderr, flush=True)

    @staticmethod
    def read(path: str | Path) -> dict[str, str]:
        """video id -> reason of every video logged in ``path`` ({} when none)."""
        import json

        out: dict[str, str] = {}
        try:
            lines = Path(path).read_text("utf-8").splitlines()
        except OSError:
            return out
        for ln in lines:
            try:
                d = json.loads(ln)
                out[str(d["video"])] = str(d.get("reason", ""))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line of a killed run
        return out


class _Reading:
    def __init__(self, cache: "Cache", vid: str):
        self.cache, self.vid = cache, vid

    def __enter__(self):
        return self

    def __exit__(self, et, e, tb):
        if e is None or isinstance(e, BadVideoError) or not isinstance(e, (CacheError, OSError, KeyError, ValueError,
                                                                           RuntimeError, EOFError)):
            return False
        root = self.cache.root
        v = self.cache._by_id.get(self.vid)
        shard = root / v.shard if v is not None else root
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, CacheError) and "vssl verify" in text:
            reason = text
        else:
            reason = f"{text[:160]}; run `vssl verify {root}`"
        raise BadVideoError(f"cannot read video '{self.vid}' from {shard}: {reason}", self.vid, str(shard)) from None


class Cache(ShardReader):
    """An extracted cache: the video list and random access to its arrays."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = load_manifest(self.root, "extract")
        self.options = self.manifest.get("options", {})
        self.classes: list[str] = list(self.manifest.get("classes") or [])
        self.records = self.manifest["videos"]
        self.videos: list[VideoInfo] = [
            VideoInfo.from_record(r) for r in self.records if r.get("status") == schema.OK
        ]
        self._by_id = {v.id: v for v in self.videos}
        self._pool = ShardPool(self.root)

    def reading(self, vid: str):
        """Context of reading one video: any failure becomes one CacheError line naming the video,
        its shard and ``vssl verify`` (raised in a DataLoader worker, it reaches the user as that line)."""
        return _Reading(self, vid)

    # ------------------------------------------------------------------ listing
    def __len__(self) -> int:
        return len(self.videos)

    def video(self, vid: str) -> VideoInfo:
        try:
            return self._by_id[vid]
        except KeyError:
            raise InputError(f"video '{vid}' is not in the cache {self.root} (or it failed extraction)") from None

    def split(self, split: str | int = "1", subset: str = "train") -> list[VideoInfo]:
        """Videos of one subset ('train' | 'test' | 'all') of split number ``split``."""
        split = str(split)
        if subset == "all":
            return list(self.videos)
        have = {s for v in self.videos for s in v.splits}
        if split not in have:
            raise InputError(
                f"split {split} not in cache {self.root} (splits: {', '.join(sorted(have)) or 'none'}): "
                "evaluation needs labelled train/test splits (vssl extract --splits DIR); to pretrain on "
                "unlabelled videos pass --subset all"
            )
        return [v for v in self.videos if v.splits.get(split) == subset]

    @property
    def num_classes(self) -> int:
        labels = [v.label for v in self.videos if v.label is not None]
        return max(len(self.classes), (max(labels) + 1) if labels else 0)

    def _g(self, vid: str):
        v = self.video(vid)
        return self._pool.group(v.shard, v.group)

    # ------------------------------------------------------------------ arrays
    def frame_types(self, vid: str) -> np.ndarray:
        return self._g(vid)["frame_types"][:]

    def keyframes(self, vid: str) -> np.ndarray:
        return self._g(vid)["keyframes"][:]

    def stored_frame_index(self, vid: str) -> np.ndarray:
        g = self._g(vid)
        if "frame_index" not in g:
            raise CacheError(f"cache {self.root} has no frames (extracted with --no-frames): RGB methods need them")
        return g["frame_index"][:]

    def read_frames_jpeg(self, vid: str, t: np.ndarray | list[int]) -> list[np.ndarray]:
        """Raw JPEG bytes (uint8 arrays) of frames ``t`` (each snapped to the nearest stored frame)."""
        g = self._g(vid)
        if "frame_index" not in g:
            raise CacheError(f"cache {self.root} has no frames (extracted with --no-frames): RGB methods need them")
        stride = int(g.attrs.get("frame_stride", 1)) or 1
        n_stored = g["frame_index"].shape[0]
        t = np.asarray(t, np.int64)
        idx = np.clip(np.rint(t / stride).astype(np.int64), 0, n_stored - 1)
        order = np.argsort(idx, kind="stable")
        got = _slice_jpegs(g, "frame_jpeg", "frame_offsets", idx[order])
        out: list = [None] * len(t)
        for o, b in zip(order, got):
            out[o] = b
        return out

    def read_frames(self, vid: str, t0: int, t1: int, step: int = 1) -> np.ndarray:
        """Frames t0, t0+step, ... < t1 as uint8 (T, H, W, 3) RGB."""
        ts = np.arange(t0, t1, step)
        return np.stack([decode_jpeg(b) for b in self.read_frames_jpeg(vid, ts)])

    def read_mv(self, vid: str, t0: int, t1: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Motion vectors of frames [t0, t1) (every ``step``): int16 (T, Hg, Wg, 2), valid uint8 (T,)."""
        v = self.video(vid)
        mv, valid = (self._pool.dataset(v.shard, v.group, k) for k in ("mv", "mv_valid"))
        n = mv.shape[0]
        if t0 < 0 or t1 > n or t0 >= t1:
            raise InputError(f"frames [{t0}, {t1}) out of range for '{vid}' ({n} frames)")
        return mv[t0:t1:step], valid[t0:t1:step]

    def read_mv_all(self, vid: str) -> tuple[np.ndarray, np.ndarray]:
        """Every frame's motion vectors of ``vid``: int16 (T, Hg, Wg, 2), valid uint8 (T,)."""
        v = self.video(vid)
        return tuple(self._pool.dataset(v.shard, v.group, k)[:] for k in ("mv", "mv_valid"))

    def nearest_keyframe(self, vid: str, t: int, keyframes: np.ndarray | None = None) -> tuple[int, int]:
        """(k, frame index) of the keyframe nearest to frame ``t`` (earlier one on a tie); ``keyframes``:
        the video's :meth:`keyframes`, when the caller has them."""
        kf = self.keyframes(vid) if keyframes is None else keyframes
        if len(kf) == 0:
            raise CacheError(f"'{vid}' has no keyframes")
        k = int(np.argmin(np.abs(kf.astype(np.int64) - int(t))))
        return k, int(kf[k])

    def read_keyframe(self, vid: str, k: int) -> np.ndarray:
        """Keyframe number ``k`` as uint8 (H, W, 3) RGB."""
        g = self._g(vid)
        return decode_jpeg(_slice_jpegs(g, "keyframe_jpeg", "keyframe_offsets", np.asarray([k]))[0])
