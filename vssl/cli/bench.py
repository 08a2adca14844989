"""`vssl bench ...`: each stage against a reference measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vssl.cli.common import console, error_boundary, parse_size

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
    repeats: Annotated[int, typer.Option(help="Best of this many runs per figure.")] = 2,
):
    """vssl extract vs a bare motion-vector decode loop (frames/s per core, ratio), and worker scaling."""
    from rich.table import Table

    from vssl.bench_extract import bench_extract

    r = bench_extract(input, videos=videos, frames=frames, size=parse_size(size), max_workers=max_workers,
                      repeats=repeats)
    t = Table(title=f"vssl bench extract: {r['videos']} videos, {r['frames']} frames, one core unless said")
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
    base = r["scaling_no_frames_fps"].get(1)
    for w, fps in r["scaling_no_frames_fps"].items():
        t.add_row(f"vssl extract --no-frames -j {w} (whole run, incl. start-up)", f"{fps:,.0f}",
                  f"x{fps / base:.2f} vs -j 1" if base else "")
    console.print(t)
    console.print(f"reference (a) = {r['reference']}; target (b)/(a) >= 0.7 without --frames")


def _optional(module: str, name: str):
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError):
        return None


def register(app: typer.Typer) -> None:
    for mod in ("vssl.cli.bench_more",):
        fn = _optional(mod, "register_bench")
        if fn:
            fn(bench_app)
    app.add_typer(bench_app, name="bench")
