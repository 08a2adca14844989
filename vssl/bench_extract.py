"""`vssl bench extract`: vssl extract against a bare motion-vector decode loop, same files, same run.

(a) the reference: the faster of a bare mvextractor loop (vectors only, no frame
images) and a bare PyAV loop with ``export_mvs``; (b) ``vssl extract`` writing the
cache with one worker, without and with ``--frames``. Ratios (b)/(a) are printed;
then extraction with 1..N workers to show scaling.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

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


def bench_extract(input: Path | None = None, *, videos: int = 8, frames: int = 250, size=(320, 240),
                  max_workers: int | None = None, repeats: int = 2) -> dict:
    """Run the benchmark; returns rows of figures (frames/s per core and ratios)."""
    tmp = Path(tempfile.mkdtemp(prefix="vssl-bench-"))
    try:
        paths = _videos(input, tmp, videos, frames, size)
        root = tmp / "in"
        root.mkdir()
        for i, p in enumerate(paths):
            os.symlink(p, root / f"{i:04d}{p.suffix}")
        best = lambda runs: max(runs, key=lambda r: r[0] / r[1])  # noqa: E731
        pyav = best([bare_pyav(paths) for _ in range(repeats)])
        mvx_runs = [bare_mvextractor(paths) for _ in range(repeats)]
        mvx = best(mvx_runs) if mvx_runs[0] is not None else None
        ref_name, ref = ("mvextractor", mvx) if mvx and mvx[0] / mvx[1] > pyav[0] / pyav[1] else ("pyav export_mvs", pyav)
        ref_fps = ref[0] / ref[1]
        no_frames = best([_extract(root, tmp / "c", 1, False) for _ in range(repeats)])
        with_frames = best([_extract(root, tmp / "c", 1, True) for _ in range(repeats)])
        rows = {
            "videos": len(paths),
            "frames": pyav[0],
            "bare_pyav_fps": pyav[0] / pyav[1],
            "bare_mvextractor_fps": (mvx[0] / mvx[1]) if mvx else None,
            "reference": ref_name,
            "extract_no_frames_fps": no_frames[0] / no_frames[1],
            "extract_frames_fps": with_frames[0] / with_frames[1],
        }
        rows["ratio_no_frames"] = rows["extract_no_frames_fps"] / ref_fps
        rows["ratio_frames"] = rows["extract_frames_fps"] / ref_fps
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
            f, s = _extract(big, tmp / "c", w, False)
            scaling[w] = f / s
        rows["scaling_no_frames_fps"] = scaling
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
