"""`vssl bench precompute`: FAME and BE precompute throughput, and its cost next to extraction.

:func:`bench_precompute` re-extracts (one worker) the source videos of a few
videos of a cache into a temporary cache, then times, on that cache and with
one worker and one thread: ``precompute fame`` (motion from frames, on the CPU; motion from
motion vectors; on the GPU when there is one), ``precompute be`` (random and
median) and the FAME score alone on ready tensors (no JPEG decoding: the cost an
online, per-batch computation would add to training). Ratios are precompute
time over extraction time of the same videos.

:func:`fame_quality` measures the stored FAME masks against the ground truth of
a synthetic dataset (:mod:`vssl.synth`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from vssl.errors import CacheError


def _source_paths(cache_root: Path, max_videos: int) -> list[Path]:
    from vssl.io.cache import Cache

    with Cache(cache_root) as c:
        paths = [Path(v.record["path"]) for v in c.videos if v.record.get("path")]
    paths = [p for p in paths if p.is_file()][:max_videos]
    if not paths:
        raise CacheError(f"the source videos of {cache_root} are not on this machine: cannot time extraction")
    return paths


def score_only_windows_per_s(device: str, *, batch: int = 32, size: int = 112, window: int = 16,
                             seconds: float = 2.0) -> float:
    """Windows/s of :func:`fame_score` alone on random clips already on ``device``."""
    import torch

    from vssl.ops.fame import fame_score

    x = torch.rand(batch, 3, window, size, size, device=device)
    with torch.inference_mode():
        fame_score(x)  # warm-up (kernels, allocator)
        if device != "cpu":
            torch.cuda.synchronize()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n == 0:
            fame_score(x)
            n += batch
        if device != "cpu":
            torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def bench_precompute(cache: str | Path, *, max_videos: int = 8, window: int = 16, stride: int = 8,
                     gpu: bool | None = None, repeats: int = 1, threads: int = 1) -> dict:
    """Throughput of `vssl precompute fame|be` and its time relative to `vssl extract`.

    Args:
        cache: an extracted cache whose source videos (manifest ``path``) are readable.
        max_videos: how many of its videos to use.
        gpu: also time FAME on CUDA (default: when available).
        repeats: best of this many runs per figure.
        threads: torch CPU threads (1: figures per core, like `vssl bench extract`).

    Returns:
        dict: ``videos, frames, windows, extract_s``, ``fame_cpu_windows_per_s``,
        ``fame_mv_cpu_windows_per_s``, ``fame_cuda_windows_per_s`` (None without a GPU),
        ``be_random_windows_per_s``, ``be_median_windows_per_s``, ``score_only_cpu_windows_per_s``,
        ``score_only_cuda_windows_per_s`` (16 x 112 x 112 windows), ``ratio_fame_to_extract``,
        ``ratio_fame_mv_to_extract``, ``ratio_be_to_extract`` (precompute s / extract s), ``device``.
    """
    import torch

    from vssl.io.cache import Cache
    from vssl.preprocess.be import BeOptions
    from vssl.preprocess.extract import CONTENT_OPTIONS, ExtractOptions, extract
    from vssl.preprocess.fame import FameOptions
    from vssl.preprocess.precompute import RunOptions, precompute

    cache = Path(cache)
    paths = _source_paths(cache, max_videos)
    with Cache(cache) as c:
        ext_opts = {k: v for k, v in c.options.items() if k in CONTENT_OPTIONS}
    gpu = torch.cuda.is_available() if gpu is None else gpu
    tmp = Path(tempfile.mkdtemp(prefix="vssl-bench-precompute-"))
    out: dict = {"videos": len(paths), "device": torch.cuda.get_device_name(0) if gpu else "cpu", "threads": threads}
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        listing = tmp / "videos.txt"
        listing.write_text("".join(f"{p.resolve()}\n" for p in paths), "utf-8")

        def timed(fn) -> float:
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            return best

        def do_extract():
            s = extract(listing, tmp / "c", ExtractOptions(**ext_opts, workers=1), force=True, quiet=True)
            out["frames"] = s.frames

        out["extract_s"] = timed(do_extract)
        run = RunOptions(workers=1)
        score_only_windows_per_s("cpu", seconds=0.2)  # imports and first-call costs outside the timings

        def pre(opts):
            def f():
                s = precompute(tmp / "c", opts, run, force=True, quiet=True)
                out["windows"] = s.windows
            return timed(f)

        fame_s = pre(FameOptions(window=window, stride=stride))
        fame_mv_s = pre(FameOptions(window=window, stride=stride, motion_source="mv"))
        fame_cuda_s = pre(FameOptions(window=window, stride=stride, device="cuda")) if gpu else None
        be_s = pre(BeOptions(window=window, stride=stride))
        be_med_s = pre(BeOptions(window=window, stride=stride, kind="median"))
        w = max(1, out.get("windows", 0))
        out.update(
            fame_s=fame_s, fame_mv_s=fame_mv_s, be_s=be_s, be_median_s=be_med_s,
            fame_cpu_windows_per_s=w / fame_s,
            fame_mv_cpu_windows_per_s=w / fame_mv_s,
            fame_cuda_windows_per_s=w / fame_cuda_s if fame_cuda_s else None,
            be_random_windows_per_s=w / be_s,
            be_median_windows_per_s=w / be_med_s,
            score_only_cpu_windows_per_s=score_only_windows_per_s("cpu"),
            score_only_cuda_windows_per_s=score_only_windows_per_s("cuda") if gpu else None,
            ratio_fame_to_extract=fame_s / out["extract_s"],
            ratio_fame_mv_to_extract=fame_mv_s / out["extract_s"],
            ratio_fame_cuda_to_extract=fame_cuda_s / out["extract_s"] if fame_cuda_s else None,
            ratio_be_to_extract=be_s / out["extract_s"],
            ratio_be_median_to_extract=be_med_s / out["extract_s"],
        )
    finally:
        torch.set_num_threads(old_threads)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def fame_quality(cache: str | Path, synth_root: str | Path, *, betas=(0.5, "true")) -> dict:
    """Mean IoU of the stored FAME masks against the ground truth of a :mod:`vssl.synth` dataset.

    For every stored window: the truth is the union over the window's frames of the
    ground-truth masks (resized to the score map by nearest neighbour); the mask is
    the top ``beta`` fraction of the stored score (``"true"``: beta = the truth's
    own fraction of the image).

    Returns:
        dict: ``windows``, ``true_fraction`` (mean), ``motion_source``, and per beta
        (``"0.5"``, ``"true"``) ``iou`` (mean), ``max_iou`` (mean of the most a mask of
        that fraction can reach), ``recall`` (mean share of the truth covered).
    """
    import cv2
    import torch

    from vssl.io.precomputed import PrecomputeCache
    from vssl.ops.fame import mask_from_score, mask_iou, max_iou_at_beta
    from vssl.synth import GROUNDTRUTH_DIR

    synth_root = Path(synth_root)
    sums: dict[str, dict[str, float]] = {str(b): {"iou": 0.0, "max_iou": 0.0, "recall": 0.0} for b in betas}
    n_win, frac_sum = 0, 0.0
    with PrecomputeCache(cache, "fame") as pc:
        for vid in pc.videos:
            gt_path = synth_root / GROUNDTRUTH_DIR / Path(vid).with_suffix(".npz")
            if not gt_path.is_file():
                continue
            masks = np.load(gt_path)["masks"]
            rec = pc.record(vid)
            for s in pc.window_starts(vid):
                truth = masks[s : s + pc.window].any(0).astype(np.uint8)
                if truth.shape != (rec["height"], rec["width"]):
                    truth = cv2.resize(truth, (rec["width"], rec["height"]), interpolation=cv2.INTER_NEAREST)
                truth_t = torch.from_numpy(truth.astype(bool))[None]
                f = float(truth_t.float().mean())
                score = torch.from_numpy(pc.read_score(vid, int(s)))[None]
                for b in betas:
                    beta = f if b == "true" else float(b)
                    m = mask_from_score(score, beta)
                    acc = sums[str(b)]
                    acc["iou"] += float(mask_iou(m, truth_t)[0])
                    acc["max_iou"] += float(max_iou_at_beta(f, beta))
                    inter = float((m[0, 0].bool() & truth_t[0]).sum())
                    acc["recall"] += inter / max(1.0, float(truth_t.sum()))
                n_win += 1
                frac_sum += f
        source = pc.options.get("motion_source")
    if n_win == 0:
        raise CacheError(f"no video of {cache} has ground truth under {synth_root / GROUNDTRUTH_DIR}")
    return {
        "windows": n_win, "true_fraction": frac_sum / n_win, "motion_source": source,
        **{b: {k: v / n_win for k, v in acc.items()} for b, acc in sums.items()},
    }
