"""`vssl precompute be`: the Background Erasing static frame(s) of every clip window of a video.

BE (Wang et al. 2021): the "static frame" of each window: ``k`` random frames
of the window (``kind="random"``, the paper's choice, drawn per video from a
seeded generator; the cached JPEG bytes are copied) or the temporal median of
the window (``kind="median"``, a cleaner background, encoded as JPEG).

The run over the cache (sharding, resume, manifest): :mod:`vssl.preprocess.precompute`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from vssl.errors import InputError, VideoError
from vssl.io.jpegstore import JpegWriter
from vssl.io.precomputed import data_checksum, window_starts
from vssl.io.shards import Job
from vssl.preprocess._windows import batches, check_windows, read_frames, too_short

STATIC_JPEG_CHUNK = 1 << 16  # HDF5 chunk of static_jpeg, bytes
TORCH_THREADS = None  # BE does not use torch: leave its threads alone


@dataclass
class BeOptions:
    """What `vssl precompute be` stores."""

    window: int = 16
    stride: int = 8
    k: int = 1  # static frames per window (kind random)
    kind: str = "random"  # random (the paper) | median
    seed: int = 0
    jpeg_quality: int = 90  # for kind median (random copies the cached JPEG bytes)

    KIND = "be"

    def validate(self) -> None:
        check_windows(self.window, self.stride, minimum=1)
        if self.kind not in ("random", "median"):
            raise InputError(f"--kind must be random or median, not '{self.kind}'")
        if self.kind == "random" and not 1 <= self.k <= self.window:
            raise InputError(f"--k must be in 1..--window {self.window} (got {self.k})")
        if self.kind == "median" and self.k != 1:
            raise InputError("--kind median stores one frame per window: use --k 1")
        if not 1 <= self.jpeg_quality <= 100:
            raise InputError(f"--jpeg-quality must be in 1..100 (got {self.jpeg_quality})")

    def content(self) -> dict:
        return {k: getattr(self, k) for k in ("window", "stride", "k", "kind", "seed", "jpeg_quality")}


Options = BeOptions  # the name vssl.preprocess.precompute.KINDS looks up


def video_rng(video_id: str, seed: int) -> np.random.Generator:
    """The generator of one video's BE frame choice: depends on the seed and the id only."""
    h = int.from_bytes(hashlib.blake2b(video_id.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, h])


def compute_video(job: Job, group, ctx) -> dict:
    """Work function: the static frame(s) of every window of one video into ``group``."""
    import cv2

    cache, opts, run = ctx.state["cache"], ctx.state["opts"], ctx.state["run"]
    p = job.payload
    n = p["n_frames"]
    starts = window_starts(n, opts.window, opts.stride)
    if len(starts) == 0:
        raise too_short(n, opts.window)
    k = opts.k
    fstride = max(1, int(p.get("frame_stride", 1)))
    rng = video_rng(job.id, opts.seed)
    jpegs = JpegWriter(group, "static_jpeg", "static_offsets", chunk=STATIC_JPEG_CHUNK)
    static_t = np.full((len(starts), k), -1, np.int32)
    enc = [int(cv2.IMWRITE_JPEG_QUALITY), opts.jpeg_quality]
    done_until = 0
    for i0, i1 in batches(len(starts), run.batch):
        s = starts[i0:i1]
        if opts.kind == "random":
            pick = np.stack([np.sort(rng.choice(opts.window, size=k, replace=False)) for _ in s])
            ts = (s[:, None] + pick).reshape(-1)
            # the stored frame each t reads (frames extracted every frame_stride-th)
            snapped = np.clip(np.rint(ts / fstride).astype(np.int64), 0, p["n_stored_frames"] - 1) * fstride
            static_t[i0:i1] = snapped.reshape(len(s), k)
            for b in cache.read_frames_jpeg(job.id, ts):  # the cached bytes, not re-encoded
                jpegs.add(b.tobytes())
        else:
            ts = (s[:, None] + np.arange(opts.window)[None]).reshape(-1)
            frames = read_frames(cache, job.id, ts)
            for st in s:
                win = np.stack([frames[int(st) + j] for j in range(opts.window)])
                med = np.median(win, axis=0).round().astype(np.uint8)
                ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(med[..., ::-1]), enc)
                if not ok:  # pragma: no cover - OpenCV failure
                    raise VideoError("JPEG encoding failed")
                jpegs.add(buf.tobytes())
        end = int(s[-1]) + opts.window
        ctx.progress(end - done_until)
        done_until = end
    jpegs.close()
    group.create_dataset("starts", data=starts)
    group.create_dataset("static_t", data=static_t)
    group.attrs.update(window=opts.window, stride=opts.stride, k=k, kind=opts.kind)
    return {
        "n_frames": n, "n_windows": len(starts), "window": opts.window, "stride": opts.stride, "k": k,
        "height": p["stored_height"], "width": p["stored_width"],
        "checksum": data_checksum(group, "be"), "extract_checksum": p["checksum"],
    }


__all__ = ["BeOptions", "Options", "STATIC_JPEG_CHUNK", "compute_video", "video_rng"]
