"""`vssl bench extract`: vssl extract against a bare motion-vector decode loop, same files, same run.

(a) the reference: the faster of a bare mvextractor loop (vectors only, no frame
images) and a bare PyAV loop with ``export_mvs``; (b) ``vssl extract`` writing the
cache with one worker, without and with ``--frames``, all pinned to one CPU. Ratios
(b)/(a) are printed; then extraction with 1..N workers (unpinned) to show scaling.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from statistics import median

from vssl.io.splits import discover_inputs


def _videos(input: Path | None, tmp: Path, n_videos: int, frames: int, size: tuple[int, int]) -> list[Path]:
    if input is None:
        from vssl.synth import make_synth

        root = tmp / "synth"
        make_synth(root, classes=2, videos_per_class=max(1, n_videos // 2), size=size, frames=frames, seed=0,
                   progress=False)
        input = root
    return [e.path for e in discover_inputs(Path(input)).entries]


def bare_pyav(paths: list[Path]) -> tuple[int, float]:
    import av

    n, t0 = 0, time.perf_counter()
    for p in paths:
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            s.codec_context.options = {"flags2": "+export_mvs"}
            s.thread_count = 1
            for f in c.decode(s):
                sd = f.side_data.get("MOTION_VECTORS")
                if sd is not None:
                    sd.to_ndarray()
                _ = f.pict_type
                n += 1
    return n, time.perf_counter() - t0


def bare_mvextractor(paths: list[Path]) -> tuple[int, float] | None:
    try:
        from mvextractor.videocap import VideoCap
    except ImportError:
        return None
    n, t0 = 0, time.perf_counter()
    for p in paths:
        cap = VideoCap()
        if not cap.open(str(p)):
            continue
        cap.set_decode_frames(False)
        while True:
            r = cap.read()
            if not r[0]:
                break
            n += 1
        cap.release()
    return n, time.perf_counter() - t0


def _extract(paths_root: Path, out: Path, workers: int, frames: bool) -> tuple[int, float]:
    from vssl.preprocess.extract import ExtractOptions, extract

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = extract(paths_root, out, ExtractOptions(workers=workers, frames=frames, reencode="never", min_frames=1),
                quiet=True)
    return s.frames, time.perf_counter() - t0


class one_core:
    """Pin this process (and the decoder threads it starts) to one CPU: "per core" figures.

    The decoders start threads of their own (mvextractor's FFmpeg context uses about 1.3
    cores on the 2-core VM), so without pinning a "one worker" run is not one core.
    """

    def __enter__(self):
        self.saved = None
        self.pinned = False
        if hasattr(os, "sched_setaffinity"):
            self.saved = os.sched_getaffinity(0)
            try:
                os.sched_setaffinity(0, {max(self.saved)})
                self.pinned = True
            except OSError:  # not allowed here: the figures are then per worker, not per core
                pass
        return self

    def __exit__(self, *exc):
        if self.pinned:
            os.sched_setaffinity(0, self.saved)


def bench_extract(input: Path | None = None, *, videos: int = 8, frames: int = 250, size=(320, 240),
                  max_workers: int | None = None, repeats: int = 5) -> dict:
    """Run the benchmark; returns rows of figures (frames/s per core and ratios).

    One-core figures run pinned to one CPU, in ``repeats`` interleaved rounds (reference,
    extract --no-frames, extract --frames, one after the other), after one warm-up round;
    ratios are the median of the per-round ratios (a shared VM's speed drifts between
    rounds, less within one), frames/s the median of the rounds.
    """
    tmp = Path(tempfile.mkdtemp(prefix="vssl-bench-"))
    try:
        paths = _videos(input, tmp, videos, frames, size)
        root = tmp / "in"
        root.mkdir()
        for i, p in enumerate(paths):
            os.symlink(p, root / f"{i:04d}{p.suffix}")
        fps = lambda r: r[0] / r[1]  # noqa: E731
        rounds: dict[str, list[float]] = {"pyav": [], "mvx": [], "no_frames": [], "frames": []}
        n_frames = 0
        with one_core() as pin:
            for rnd in range(repeats + 1):
                pyav = bare_pyav(paths)
                mvx = bare_mvextractor(paths)
                nf = _extract(root, tmp / "c", 1, False)
                wf = _extract(root, tmp / "c", 1, True)
                if rnd == 0:  # warm-up: page cache, imports, compiled kernels
                    continue
                n_frames = pyav[0]
                rounds["pyav"].append(fps(pyav))
                rounds["mvx"].append(fps(mvx) if mvx else 0.0)
                rounds["no_frames"].append(fps(nf))
                rounds["frames"].append(fps(wf))
        med = {k: median(v) for k, v in rounds.items()}
        use_mvx = med["mvx"] > med["pyav"]
        ref = rounds["mvx"] if use_mvx else rounds["pyav"]
        rows = {
            "videos": len(paths),
            "frames": n_frames,
            "rounds": repeats,
            "pinned": pin.pinned,
            "bare_pyav_fps": med["pyav"],
            "bare_mvextractor_fps": med["mvx"] or None,
            "reference": "mvextractor" if use_mvx else "pyav export_mvs",
            "extract_no_frames_fps": med["no_frames"],
            "extract_frames_fps": med["frames"],
            "ratio_no_frames": median([b / a for a, b in zip(ref, rounds["no_frames"])]),
            "ratio_frames": median([b / a for a, b in zip(ref, rounds["frames"])]),
            "ratio_no_frames_range": (min(b / a for a, b in zip(ref, rounds["no_frames"])),
                                      max(b / a for a, b in zip(ref, rounds["no_frames"]))),
        }
        # scaling: the same videos four times over, so process start-up weighs less
        big = tmp / "in4"
        big.mkdir()
        for rep in range(4):
            for i, p in enumerate(paths):
                os.symlink(p, big / f"{rep}-{i:04d}{p.suffix}")
        n_cores = max_workers or len(os.sched_getaffinity(0))
        scaling = {}
        for w in sorted({1, 2, 4, 8, 16, n_cores}):
            if w > n_cores:
                continue
            scaling[w] = max(fps(_extract(big, tmp / "c", w, False)) for _ in range(2))  # best of 2
        rows["scaling_no_frames_fps"] = scaling
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
