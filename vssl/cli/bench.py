"""`vssl bench ...`: each stage against a reference measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vssl.cli.common import console, error_boundary, parse_size
from vssl.train.config import DEVICE_CHOICES  # no torch: plain dataclasses

bench_app = typer.Typer(help="Benchmarks: each prints a ratio against a reference measured in the same run.",
                        no_args_is_help=True)


@bench_app.command("extract")
@error_boundary
def extract(
    input: Annotated[Optional[Path], typer.Argument(help="Videos to use (default: synth videos, 320x240).")] = None,
    videos: Annotated[int, typer.Option(help="Synth videos to make when no INPUT.")] = 8,
    frames: Annotated[int, typer.Option(help="Frames per synth video.")] = 250,
    size: Annotated[str, typer.Option(help="Synth frame size.")] = "320x240",
    max_workers: Annotated[Optional[int], typer.Option(help="Largest worker count for the scaling rows.")] = None,
    repeats: Annotated[int, typer.Option(help="Interleaved rounds (after one warm-up); figures are medians.")] = 5,
    reencode: Annotated[bool, typer.Option("--reencode", help="Also time the re-encode path (long-GOP / non-H.264 input) against a bare decode + scale + encode + MV-decode loop.")] = False,
    rss_frames: Annotated[int, typer.Option(help="Peak memory of one extract process on a generated 320x240 clip of this many frames and of a quarter of it (0: skip).")] = 0,
):
    """vssl extract vs a bare motion-vector decode loop (frames/s per core, ratio), and worker scaling."""
    from rich.table import Table

    from vssl.bench.extract import bench_extract

    r = bench_extract(input, videos=videos, frames=frames, size=parse_size(size), max_workers=max_workers,
                      repeats=repeats, reencode=reencode)
    pinned = "pinned to one core" if r["pinned"] else "one worker (could not pin to one core)"
    t = Table(title=f"vssl bench extract: {r['videos']} videos, {r['frames']} frames, {pinned} unless said, "
                    f"median of {r['rounds']} rounds")
    t.add_column("what")
    t.add_column("frames/s", justify="right")
    t.add_column("ratio to reference", justify="right")
    ref = r["bare_mvextractor_fps"] if r["reference"] == "mvextractor" else r["bare_pyav_fps"]
    t.add_row("(a) bare PyAV export_mvs loop", f"{r['bare_pyav_fps']:,.0f}", f"{r['bare_pyav_fps'] / ref:.2f}")
    if r["bare_mvextractor_fps"]:
        t.add_row("(a) bare mvextractor loop (no images)", f"{r['bare_mvextractor_fps']:,.0f}",
                  f"{r['bare_mvextractor_fps'] / ref:.2f}")
    t.add_row("(b) vssl extract --no-frames", f"{r['extract_no_frames_fps']:,.0f}", f"[bold]{r['ratio_no_frames']:.2f}[/bold]")
    t.add_row("(b) vssl extract --frames", f"{r['extract_frames_fps']:,.0f}", f"{r['ratio_frames']:.2f}")
    if reencode:
        t.add_row("(c) bare decode + scale + x264 + MV-decode loop", f"{r['bare_reencode_fps']:,.0f}", "1.00 (ref c)")
        t.add_row("(d) vssl extract --no-frames --reencode always", f"{r['extract_reencode_fps']:,.0f}",
                  f"[bold]{r['ratio_reencode']:.2f}[/bold] of (c)")
        t.add_row("(e) the same, --reencode-pass file (two passes)", f"{r['extract_reencode_file_fps']:,.0f}",
                  f"{r['ratio_reencode_file']:.2f} of (c)")
        t.add_row("(f) bare loop (c) at --reencode-preset veryfast", f"{r['bare_reencode_veryfast_fps']:,.0f}", "1.00 (ref f)")
        t.add_row("(g) (d) at --reencode-preset veryfast", f"{r['extract_reencode_veryfast_fps']:,.0f}",
                  f"{r['ratio_reencode_veryfast']:.2f} of (f); (d) is x{r['speedup_fast_over_veryfast']:.2f} (g)")
    base = r["scaling_no_frames_fps"].get(1)
    for w, fps in r["scaling_no_frames_fps"].items():
        t.add_row(f"vssl extract --no-frames -j {w} (whole run, incl. start-up)", f"{fps:,.0f}",
                  f"x{fps / base:.2f} vs -j 1" if base else "")
    console.print(t)
    if rss_frames:
        from vssl.bench.extract import peak_rss_mb

        a, b = peak_rss_mb(max(1, rss_frames // 4)), peak_rss_mb(rss_frames)
        console.print(f"peak RSS of `vssl extract` (one worker, default re-encode, --frames): {a:.0f} MB at "
                      f"{max(1, rss_frames // 4)} frames, {b:.0f} MB at {rss_frames} frames")
    lo, hi = r["ratio_no_frames_range"]
    console.print(f"reference (a) = {r['reference']}; (b)/(a) without --frames over the rounds: {lo:.2f}..{hi:.2f}; "
                  "target >= 0.7")


def _synth_cache(tmp: Path) -> Path:
    """A small synth cache (48 videos of 160x120, 48 frames) for benchmarks run without a CACHE argument."""
    from vssl.bench.data import synth_cache

    return synth_cache(tmp, videos=48, frames=48, size=(160, 120))


def _bench_on_cache(bench, title: str, cache: Path | None, **options) -> None:
    """Run ``bench(cache=..., **options)`` on ``cache`` (default: a synth cache, deleted after) with
    the options it takes, and print its results as a what / value table titled ``title``."""
    import inspect
    import tempfile

    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="vssl-bench-") as tmp:
        root = cache if cache is not None else _synth_cache(Path(tmp))
        params = inspect.signature(bench).parameters
        r = bench(**{k: v for k, v in dict(options, cache=root).items() if k in params})
    t = Table(title=title)
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in r.items():
        t.add_row(str(k), f"{v:,.3f}" if isinstance(v, float) else str(v))
    console.print(t)


@bench_app.command("precompute")
@error_boundary
def precompute(
    cache: Annotated[Optional[Path], typer.Argument(help="An extracted cache whose source videos are still on disk (default: a synth cache).")] = None,
    max_videos: Annotated[int, typer.Option(help="Videos to use.")] = 8,
    repeats: Annotated[int, typer.Option(help="Best of this many runs per figure.")] = 1,
):
    """Windows/s of precompute fame (CPU, and GPU when present) and be, and their time relative to extract."""
    import tempfile

    from rich.table import Table

    from vssl.bench.precompute import bench_precompute

    with tempfile.TemporaryDirectory(prefix="vssl-bench-") as tmp:
        root = cache if cache is not None else _synth_cache(Path(tmp))
        r = bench_precompute(root, max_videos=max_videos, repeats=repeats)
    t = Table(title="vssl bench precompute (one worker, one thread)")
    t.add_column("what")
    t.add_column("windows/s", justify="right")
    t.add_column("time / extract time", justify="right")
    rows = [
        ("fame, frame differences, CPU", "fame_cpu_windows_per_s", "ratio_fame_to_extract"),
        ("fame, motion vectors, CPU", "fame_mv_cpu_windows_per_s", "ratio_fame_mv_to_extract"),
        ("fame, frame differences, CUDA", "fame_cuda_windows_per_s", "ratio_fame_cuda_to_extract"),
        ("be, random static frames", "be_random_windows_per_s", "ratio_be_to_extract"),
        ("be, temporal median", "be_median_windows_per_s", "ratio_be_median_to_extract"),
        ("FAME score alone (16x112x112), CPU", "score_only_cpu_windows_per_s", None),
        ("FAME score alone (16x112x112), CUDA", "score_only_cuda_windows_per_s", None),
    ]
    for name, key, ratio in rows:
        v = r.get(key)
        if v is None:
            continue
        rv = r.get(ratio) if ratio else None
        t.add_row(name, f"{v:,.0f}", f"{rv:.2f}" if rv is not None else "")
    console.print(t)


@bench_app.command("pretrain")
@error_boundary
def pretrain(
    method: Annotated[str, typer.Option(help="Method.")] = "dsm",
    backbone: Annotated[str, typer.Option(help="Backbone.")] = "r3d_18",
    cache: Annotated[Optional[Path], typer.Option(help="Cache to feed from (default: a synth cache).")] = None,
    steps: Annotated[int, typer.Option(help="Timed steps per measurement.")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 16,
    device: Annotated[str, typer.Option(help=" | ".join(DEVICE_CHOICES) + " (or cuda:N)")] = "auto",
    clip_len: Annotated[int, typer.Option(help="Frames per clip.")] = 16,
    crop: Annotated[int, typer.Option(help="Crop size.")] = 112,
    workers: Annotated[int, typer.Option("--workers", "-j", help="DataLoader workers.")] = 4,
    compile: Annotated[bool, typer.Option("--compile/--no-compile")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last/--no-channels-last")] = True,
    frame_cache_mb: Annotated[float, typer.Option(help="Decoded frames kept per data process (run.frame_cache_mb; the timed steps include filling it).")] = 0.0,
):
    """Steps/s fed from the cache vs the same model fed synthetic tensors already on the device (b/a)."""
    from vssl.bench.pretrain import bench_pretrain

    _bench_on_cache(bench_pretrain, f"vssl bench pretrain: {method}, {backbone}", cache,
                    method=method, backbone=backbone, steps=steps, batch_size=batch_size, device=device,
                    clip_len=clip_len, crop=crop, workers=workers, compile=compile, channels_last=channels_last,
                    frame_cache_mb=frame_cache_mb)


@bench_app.command("eval")
@error_boundary
def eval_(
    backbone: Annotated[str, typer.Option(help="Backbone.")] = "r3d_18",
    cache: Annotated[Optional[Path], typer.Option(help="Cache to read clips from (default: a synth cache).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 32,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    workers: Annotated[int, typer.Option("--workers", "-j", help="DataLoader workers.")] = 4,
):
    """Feature extraction clips/s from the cache vs the model alone on synthetic tensors."""
    from vssl.bench.eval import bench_eval

    _bench_on_cache(bench_eval, f"vssl bench eval: {backbone}", cache,
                    backbone=backbone, batch_size=batch_size, device=device, workers=workers)


@bench_app.command("gpu")
@error_boundary
def gpu(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where bench_gpu.json / bench_gpu.md (and the synth cache) go.")] = Path("bench-gpu"),
    device: Annotated[str, typer.Option(help="cuda (the point of it) or cpu (a tiny run that tests the script).")] = "cuda",
    budget_s: Annotated[float, typer.Option(help="Seconds for the whole run; stages that do not fit are recorded as skipped.")] = 480.0,
    tests: Annotated[bool, typer.Option("--tests/--no-tests", help="Run the CUDA tests first.")] = True,
):
    """Every GPU figure in one run: CUDA tests, pretrain from cache vs synthetic tensors (r3d_18 /
    r2plus1d_18, dsm / moco, compile, JPEG decode cpu / gpu, peak memory), eval features and the
    UCF101 split-1 extrapolation, a torchrun DDP smoke run, nvidia-smi utilisation."""
    from vssl.bench.gpu import bench_gpu

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            from vssl.errors import InputError

            raise InputError("vssl bench gpu: no CUDA device here (use --device cpu to test the script)")
    r = bench_gpu(out, device=device, budget_s=budget_s, tiny=device != "cuda", run_tests=tests)
    console.print((Path(out) / "bench_gpu.md").read_text())
    console.print(f"wrote {out}/bench_gpu.json and {out}/bench_gpu.md ({r['seconds']:.0f} s)")


@bench_app.command("science")
@error_boundary
def science(
    out: Annotated[Path, typer.Option("--out", "-o", help="Benchmark directory (data, caches, runs, evals; reused on rerun).")] = Path("science"),
    quick: Annotated[bool, typer.Option("--quick", help="One seed; MoCo (unless --methods) on the --inputs, the controls; 100 steps per run (unless --steps): a few minutes on 2 cores.")] = False,
    methods: Annotated[Optional[str], typer.Option(help="Comma-separated methods, or all (every registered method); default moco,simclr,dsm,be,fame,cmd. MoCo is always included as the baseline.")] = None,
    seeds: Annotated[int, typer.Option(help="Pretraining seeds per method and regime.")] = 3,
    regimes: Annotated[str, typer.Option(help="Comma-separated synth bias regimes: none, class.")] = "none,class",
    inputs: Annotated[str, typer.Option(help="Comma-separated inputs of the methods: diff (frame differences, data.input=diff, against a random network on differences), rgb (the papers' input; at the demo budget even the supervised RGB control stays near chance, so the default leaves these rows out: rgb,diff for both).")] = "diff",
    controls: Annotated[bool, typer.Option("--controls/--no-controls", help="Supervised RGB and frame-difference controls.")] = True,
    preset: Annotated[str, typer.Option(help="Training and evaluation preset.")] = "demo",
    steps: Annotated[Optional[int], typer.Option(help="Pretraining steps per run (default: the preset's).")] = None,
    classes: Annotated[int, typer.Option(help="Synth classes (2-8).")] = 8,
    videos_per_class: Annotated[int, typer.Option(help="Synth videos per class (half of them test).")] = 24,
    data_seed: Annotated[int, typer.Option(help="Seed of the synthetic datasets (tune settings on another seed than the one you report).")] = 0,
    camera: Annotated[str, typer.Option(help="Synth camera: auto (none on a static camera, class on a panning one: frame differences cancel a static scene, so there would be no scene to shed), static or pan for both regimes (pan: the scene moves too, so frame differences no longer remove it; use another --out).")] = "auto",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a pretraining setting of the runs, e.g. dsm.queue_size=32 (a method's keys apply to that method only; repeatable).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    workers: Annotated[int, typer.Option("--workers", "-j", help="DataLoader and extract workers.")] = 2,
    jobs: Annotated[int, typer.Option("--jobs", help="Runs at once (pretrain + eval of one row's seed), each pinned to its share of the cores (DataLoader workers only where a share has cores to spare). On the 2-core VM --quick's runs took x0.73-0.80 the time at --jobs 2. Each run's torch thread count changes float rounding, so a row can differ slightly from --jobs 1. 1: one after the other; 0: one per core (at most 4; 1 with --device cuda).")] = 0,
    summary_only: Annotated[bool, typer.Option("--summary-only", help="Train nothing: the tables of every evaluation already in --out (rows left by runs with other --methods, --inputs or --seeds).")] = False,
    pool: Annotated[Optional[str], typer.Option(help="With --summary-only: comma-separated benchmark directories of replications (one configuration, other --data-seed each); the rows all of them hold, pooled over their datasets, written into --out.")] = None,
):
    """Does each method learn motion, and does it shed the scene? Pretrain every method (and random
    init, supervised RGB and frame-difference controls) on two synthetic regimes; action R@1/R@5,
    linear top-1 and background R@1 with 95 % bootstrap intervals over seeds and test videos, paired
    differences against random init and MoCo, one verdict per method. Writes science.json,
    science.md and science.png into --out."""
    from vssl.bench.science import ScienceConfig, quick_config, run_science, summarise_dir
    from vssl.train.config import parse_set

    pools = tuple(Path(p.strip()) for p in (pool or "").split(",") if p.strip())
    if pools and not summary_only:
        from vssl.errors import InputError

        raise InputError("--pool tabulates finished benchmark directories: add --summary-only")
    if summary_only:
        r = summarise_dir(out, preset=preset, pool=pools)
        print(r["markdown"])
        console.print(f"wrote {', '.join(r['files'])}", highlight=False)
        return

    cfg = ScienceConfig(out=out, methods=tuple(m.strip() for m in (methods or "").split(",") if m.strip()),
                        seeds=seeds, regimes=tuple(r.strip() for r in regimes.split(",") if r.strip()),
                        inputs=tuple(i.strip() for i in inputs.split(",") if i.strip()),
                        controls=controls, preset=preset, steps=steps, classes=classes,
                        videos_per_class=videos_per_class, device=device, workers=workers, jobs=jobs, data_seed=data_seed,
                        camera=camera, extra=parse_set(set_))
    if quick:
        cfg = quick_config(cfg)
    r = run_science(cfg)
    print(r["markdown"])
    console.print(f"wrote {', '.join(r['files'])} ({r['meta']['seconds']['total']:.0f} s)", highlight=False)


@bench_app.command("faults")
@error_boundary
def faults(
    kills: Annotated[int, typer.Option(help="SIGKILLs per killed command (the issue's full run: 20).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the kill moments.")] = 14,
    only: Annotated[Optional[str], typer.Option(help="Comma-separated scenarios (default all): extract, pretrain, finetune, retrieval, damaged, read-only.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the rows as JSON here.")] = None,
):
    """Fault injection in a temporary directory: each command killed with SIGKILL at seeded random moments
    and rerun, against an uninterrupted run; damaged and read-only caches. Prints scenario, expected,
    observed, pass/fail and seconds; exit 1 when a scenario fails."""
    import json

    from rich.table import Table

    from vssl.bench.faults import SCENARIOS, as_dicts, run_faults

    names = tuple(n.strip() for n in only.split(",") if n.strip()) if only else SCENARIOS
    rows = run_faults(kills=kills, seed=seed, only=names,
                      progress=lambda n: console.print(f"[dim]running {n} ...[/dim]", highlight=False))
    t = Table(title=f"vssl bench faults: {kills} SIGKILLs per killed command, seed {seed}")
    for c in ("scenario", "expected", "observed", "result", "seconds"):
        t.add_column(c, justify="right" if c == "seconds" else "left", overflow="fold")
    for r in rows:
        res = "[green]pass[/green]" if r.passed else ("[dim]skipped[/dim]" if r.passed is None else "[red]FAIL[/red]")
        t.add_row(r.scenario, r.expected, r.observed, res, f"{r.seconds:.1f}")
    console.print(t)
    if json_out is not None:
        json_out.write_text(json.dumps(as_dicts(rows), indent=1))
    if any(r.passed is False for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
