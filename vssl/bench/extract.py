"""`vssl bench extract`: vssl extract against a bare motion-vector decode loop, same files, same run.

(a) the reference: the faster of a bare mvextractor loop (vectors only, no frame
images) and a bare PyAV loop with ``export_mvs``; (b) ``vssl extract`` writing the
cache with one worker, without and with ``--frames``, all pinned to one CPU. Ratios
(b)/(a) are printed; then extraction with 1..N workers (unpinned) to show scaling.

With ``reencode=True`` (``--reencode``, for long-GOP or non-H.264 input such as UCF101's
MPEG-4 part 2 or Kinetics' 250-frame GOPs) it also times, pinned to one core, (c) a bare
PyAV loop that decodes, scales to the cache's short side, encodes with the same x264
settings and decodes the new packets with ``export_mvs`` against (d) ``vssl extract
--no-frames --reencode always`` (its default one-pass re-encode) and (e) the same with
``--reencode-pass file`` (the earlier two-pass path), and reports (d)/(c) and (e)/(c); then
(f) the bare loop and (g) the extract at ``--reencode-preset veryfast`` (x264's preset as it
is, the earlier default), so the default preset's speed-up, (d)/(g), is measured in the same run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from statistics import median

from vssl.io.inputs import discover_inputs


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


def bare_reencode(paths: list[Path], short_side: int, gop: int, preset: str = "fast") -> tuple[int, float]:
    """Decode -> scale (short side ``short_side``) -> x264 (the extract's settings) -> decode with
    ``export_mvs``, written against PyAV directly: what a one-pass re-encode cannot beat."""
    from fractions import Fraction

    import av
    from av.video.reformatter import VideoReformatter

    from vssl.io.video.encode import reencode_source_options, x264_reencode_options

    n, t0 = 0, time.perf_counter()
    for p in paths:
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            s.thread_count = 1
            sc = min(1.0, short_side / min(s.width, s.height))
            w, h = max(2, round(s.width * sc) // 2 * 2), max(2, round(s.height * sc) // 2 * 2)
            src_opts = reencode_source_options(preset, (s.width, s.height), (w, h))  # the extract's own settings
            if src_opts:
                s.codec_context.options = src_opts
            rate = Fraction(s.average_rate or 25).limit_denominator(100000)
            enc = av.CodecContext.create("libx264", "w")
            enc.width, enc.height, enc.pix_fmt, enc.time_base, enc.framerate = w, h, "yuv420p", 1 / rate, rate
            enc.options = x264_reencode_options(gop, 1, preset)
            dec = av.CodecContext.create("h264", "r")
            dec.options = {"flags2": "+export_mvs"}
            scaler = VideoReformatter()

            def drain(packets):
                for pkt in packets:
                    for f in dec.decode(pkt):
                        sd = f.side_data.get("MOTION_VECTORS")
                        if sd is not None:
                            sd.to_ndarray()
                        _ = f.pict_type

            for i, f in enumerate(c.decode(s)):
                g = scaler.reformat(f, width=w, height=h, format="yuv420p", interpolation="AREA")
                g.pts, g.time_base = i, enc.time_base
                drain(enc.encode(g))
                n += 1
            drain(enc.encode(None))
            drain([None])
    return n, time.perf_counter() - t0


def _extract(paths_root: Path, out: Path, workers: int, frames: bool, reencode: str = "never",
             **options) -> tuple[int, float]:
    from vssl.preprocess.extract import ExtractOptions, extract

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = extract(paths_root, out, ExtractOptions(workers=workers, frames=frames, reencode=reencode, min_frames=1,
                                                **options), quiet=True)
    return s.frames, time.perf_counter() - t0


def write_long_clip(path: Path, frames: int, size: tuple[int, int] = (320, 240), fps: int = 25) -> Path:
    """A long H.264 clip with x264's default long GOP (so ``vssl extract`` re-encodes it):
    a textured pattern scrolling diagonally, generated frame by frame (bounded memory)."""
    import av
    import numpy as np

    w, h = size
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (2 * h, 2 * w, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "28"}
        for i in range(frames):
            dx, dy = (3 * i) % w, (2 * i) % h
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(tex[dy : dy + h, dx : dx + w]), format="rgb24")
            vf.pts = i
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return path


_RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from vssl.preprocess.extract import ExtractOptions, extract
extract(Path(sys.argv[1]), Path(sys.argv[2]), ExtractOptions(workers=1, min_frames=1, frames=sys.argv[3] == "1"),
        quiet=True)
print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""


def peak_rss_mb(frames: int, size: tuple[int, int] = (320, 240), *, store_frames: bool = True) -> float:
    """Peak resident memory (MB) of a fresh process running ``vssl extract`` (one worker, the
    default re-encode) on one generated clip of ``frames`` frames: it must not grow with length."""
    import subprocess
    import sys

    tmp = Path(tempfile.mkdtemp(prefix="vssl-rss-"))
    try:
        (tmp / "in").mkdir()
        write_long_clip(tmp / "in" / "long.mp4", frames, size)
        r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(tmp / "in"), str(tmp / "c"),
                            "1" if store_frames else "0"], capture_output=True, text=True, check=True)
        return int(r.stdout.split()[-1]) / 1024.0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
                  max_workers: int | None = None, repeats: int = 5, reencode: bool = False) -> dict:
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
        rounds: dict[str, list[float]] = {"pyav": [], "mvx": [], "no_frames": [], "frames": [],
                                          "re_ref": [], "re_extract": [], "re_file": [], "re_ref_vf": [],
                                          "re_extract_vf": []}
        n_frames = 0
        with one_core() as pin:
            for rnd in range(repeats + 1):
                pyav = bare_pyav(paths)
                mvx = bare_mvextractor(paths)
                nf = _extract(root, tmp / "c", 1, False)
                wf = _extract(root, tmp / "c", 1, True)
                if reencode:
                    from vssl.preprocess.extract import ExtractOptions

                    o = ExtractOptions()
                    rr = bare_reencode(paths, o.size, o.max_gop)
                    re = _extract(root, tmp / "c", 1, False, reencode="always")
                    re_file = _extract(root, tmp / "c", 1, False, reencode="always", reencode_pass="file")
                    rr_vf = bare_reencode(paths, o.size, o.max_gop, "veryfast")
                    re_vf = _extract(root, tmp / "c", 1, False, reencode="always", reencode_preset="veryfast")
                if rnd == 0:  # warm-up: page cache, imports, compiled kernels
                    continue
                if reencode:
                    rounds["re_ref"].append(fps(rr))
                    rounds["re_extract"].append(fps(re))
                    rounds["re_file"].append(fps(re_file))
                    rounds["re_ref_vf"].append(fps(rr_vf))
                    rounds["re_extract_vf"].append(fps(re_vf))
                n_frames = pyav[0]
                rounds["pyav"].append(fps(pyav))
                rounds["mvx"].append(fps(mvx) if mvx else 0.0)
                rounds["no_frames"].append(fps(nf))
                rounds["frames"].append(fps(wf))
        med = {k: median(v) if v else 0.0 for k, v in rounds.items()}
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
        if reencode:
            rows["bare_reencode_fps"] = med["re_ref"]
            rows["extract_reencode_fps"] = med["re_extract"]
            rows["ratio_reencode"] = median([b / a for a, b in zip(rounds["re_ref"], rounds["re_extract"])])
            rows["extract_reencode_file_fps"] = med["re_file"]
            rows["ratio_reencode_file"] = median([b / a for a, b in zip(rounds["re_ref"], rounds["re_file"])])
            rows["bare_reencode_veryfast_fps"] = med["re_ref_vf"]
            rows["extract_reencode_veryfast_fps"] = med["re_extract_vf"]
            rows["ratio_reencode_veryfast"] = median([b / a for a, b in zip(rounds["re_ref_vf"], rounds["re_extract_vf"])])
            rows["speedup_fast_over_veryfast"] = median([b / a for a, b in zip(rounds["re_extract_vf"], rounds["re_extract"])])
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
