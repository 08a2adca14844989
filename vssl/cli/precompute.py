"""`vssl precompute fame|be`: per-window FAME score maps and BE static frames of a cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vssl.cli.common import EXIT_SOME_FAILED, console, env_int, err_console, error_boundary, parse_bytes

app = typer.Typer(
    name="precompute",
    help="Precompute per-window data of an extracted cache into CACHE/fame or CACHE/be.",
    no_args_is_help=True,
)

CacheArg = Annotated[Path, typer.Argument(help="Cache directory written by `vssl extract`.")]
WindowOpt = Annotated[int, typer.Option(help="Frames per window (the clip length of training).")]
StrideOpt = Annotated[int, typer.Option(help="Frames between window starts (0, stride, 2*stride, ...).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-j", help="Worker processes (0 = all cores).")]
NumShardsOpt = Annotated[Optional[int], typer.Option(help="Split the videos across K machines (default $SLURM_ARRAY_TASK_COUNT or 1); the last part to finish writes manifest.json.")]
ShardIndexOpt = Annotated[Optional[int], typer.Option(help="Which part this machine does, 0..K-1 (default $SLURM_ARRAY_TASK_ID or 0).")]
ShardSizeOpt = Annotated[str, typer.Option(help="Target shard size, e.g. 1G, 200M.")]
BatchOpt = Annotated[int, typer.Option(help="Windows processed at once per worker (bounds memory).")]
ForceOpt = Annotated[bool, typer.Option(help="Redo every video (delete earlier output of this command).")]
RetryOpt = Annotated[bool, typer.Option(help="On resume, try videos recorded as failed again.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _run_options(workers, num_shards, shard_index, shard_size, batch, retry_failed):
    from vssl.preprocess.precompute import RunOptions

    return RunOptions(
        workers=workers, shard_size=parse_bytes(shard_size), batch=batch, retry_failed=retry_failed,
        num_shards=num_shards if num_shards is not None else env_int("SLURM_ARRAY_TASK_COUNT", default=1),
        shard_index=shard_index if shard_index is not None else env_int("SLURM_ARRAY_TASK_ID", default=0),
    )


def fame(
    cache: CacheArg,
    window: WindowOpt = 16,
    stride: StrideOpt = 8,
    motion_source: Annotated[str, typer.Option(help="frames: mean |frame difference| (the paper); mv: length of the cached motion vectors.")] = "frames",
    scale: Annotated[float, typer.Option(help="Stored score map size = cached frame size x scale, in (0, 1].")] = 1.0,
    colour_space: Annotated[str, typer.Option(help="Colour bins of the FAME colour model: wheel (public code, hue read right), wheel_buggy (public code with newer kornia), hsv.")] = "wheel",
    device: Annotated[str, typer.Option(help="cpu or cuda (same scores up to float rounding).")] = "cpu",
    workers: WorkersOpt = 0,
    num_shards: NumShardsOpt = None,
    shard_index: ShardIndexOpt = None,
    shard_size: ShardSizeOpt = "1G",
    batch: BatchOpt = 8,
    retry_failed: RetryOpt = False,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
):
    """FAME soft foreground score of every clip window, uint8 at the cached resolution x --scale.

    Training crops and flips the map with its clip and keeps the top beta fraction. Resumable:
    rerun after a crash and only unfinished videos are redone; videos already done are skipped
    unless --force. Exit code 1 if any video failed (e.g. shorter than one window).
    """
    from vssl.preprocess.fame import FameOptions
    from vssl.preprocess.precompute import precompute

    opts = FameOptions(window=window, stride=stride, motion_source=motion_source, scale=scale,
                       colour_space=colour_space, device=device)
    run = _run_options(workers, num_shards, shard_index, shard_size, batch, retry_failed)
    _finish(precompute(cache, opts, run, force=force, quiet=quiet))


def be(
    cache: CacheArg,
    window: WindowOpt = 16,
    stride: StrideOpt = 8,
    k: Annotated[int, typer.Option("--k", help="Static frames per window (--kind random).")] = 1,
    kind: Annotated[str, typer.Option(help="random: k random frames of the window (the paper); median: the window's temporal median.")] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the frame choice (combined with each video id: deterministic).")] = 0,
    jpeg_quality: Annotated[int, typer.Option(help="JPEG quality of median frames (random frames keep the cached bytes).")] = 90,
    workers: WorkersOpt = 0,
    num_shards: NumShardsOpt = None,
    shard_index: ShardIndexOpt = None,
    shard_size: ShardSizeOpt = "1G",
    batch: BatchOpt = 8,
    retry_failed: RetryOpt = False,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
):
    """Background Erasing static frames of every clip window (JPEG), for x_j <- (1-l) x_j + l x_static.

    Resumable, skips videos already done unless --force; exit code 1 if any video failed.
    """
    from vssl.preprocess.be import BeOptions
    from vssl.preprocess.precompute import precompute

    opts = BeOptions(window=window, stride=stride, k=k, kind=kind, seed=seed, jpeg_quality=jpeg_quality)
    run = _run_options(workers, num_shards, shard_index, shard_size, batch, retry_failed)
    _finish(precompute(cache, opts, run, force=force, quiet=quiet))


def _finish(s) -> None:
    from rich.table import Table

    t = Table(title=f"vssl precompute {s.kind}", show_header=False)
    t.add_row("videos ok", str(s.ok))
    t.add_row("videos failed", f"[red]{s.failed}[/red]" if s.failed else "0")
    t.add_row("done in this run / already done", f"{s.result.new} / {s.result.skipped}")
    t.add_row("windows", f"{s.windows:,}")
    rate = f" ({s.windows / s.seconds:,.0f} windows/s incl. resumed)" if s.result.new and s.seconds > 0 else ""
    t.add_row("time", f"{s.seconds:.1f} s{rate}")
    t.add_row("manifest", str(s.manifest_path) + ("" if s.joined else " (other parts not finished yet)"))
    console.print(t)
    failed = [r for r in s.result.records if r.get("status") != "ok"]
    for r in failed[:20]:
        err_console.print(f"[red]failed[/red] {r['id']}: {r.get('reason')}", highlight=False, soft_wrap=True)
    if len(failed) > 20:
        err_console.print(f"... {len(failed) - 20} more failures in the manifest")
    if s.result.interrupted:
        from vssl.signals import exit_code_of, signal_name

        r = s.result
        err_console.print(f"[yellow]stopped:[/yellow] {signal_name(r.stop_signal)}: {len(r.records)} videos "
                          f"committed ({len(r.records) - r.skipped} in this run), the video in progress dropped; rerun the same command "
                          "to resume", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code_of(r.stop_signal))
    if s.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def register(root: typer.Typer) -> None:
    for fn in (fame, be):
        app.command(fn.__name__)(error_boundary(fn))
    root.add_typer(app, name="precompute")
