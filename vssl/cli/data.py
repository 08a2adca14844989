"""Data commands: synth, extract, merge, verify, info."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vssl.cli.common import (
    EXIT_SOME_FAILED,
    console,
    env_int,
    err_console,
    error_boundary,
    human_bytes,
    parse_bytes,
    parse_size,
)


def synth(
    out: Annotated[Path, typer.Argument(help="Output directory of the dataset.")],
    classes: Annotated[int, typer.Option(help="Number of motion classes (2-8).")] = 6,
    videos_per_class: Annotated[int, typer.Option(help="Videos per class.")] = 12,
    size: Annotated[str, typer.Option(help="Frame size WxH (even numbers).")] = "160x120",
    frames: Annotated[int, typer.Option(help="Frames per video.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
    gop: Annotated[int, typer.Option(help="Keyframe interval of the H.264 stream.")] = 12,
    bframes: Annotated[int, typer.Option(help="B-frames between anchors (0 = none).")] = 2,
    bias: Annotated[str, typer.Option(help="Scene-bias regime: class (train background follows the class, test "
                                           "backgrounds are another class's: measures debiasing) or none (background "
                                           "independent of the class everywhere: measures motion learning).")] = "class",
    bias_strength: Annotated[float, typer.Option(help="--bias class: probability that a train video wears its "
                                                      "class's background (1 = always).")] = 1.0,
    test_fraction: Annotated[float, typer.Option(help="Share of each class's videos in the test split.")] = 1 / 3,
    camera: Annotated[str, typer.Option(help="static, or pan: the camera pans over a larger background "
                                             "(1-2 px/frame), so the scene moves and differences show it.")] = "static",
):
    """Write the embedded synthetic dataset: labelled H.264 videos built to expose scene bias.

    Each class is a motion pattern of textured objects over a textured background. With
    --bias class the train split's background family predicts the class and the test
    split's does not; with --bias none the background is independent of the class.
    Also writes ground-truth masks and velocities (_groundtruth/) and UCF101-style split
    files (classInd.txt, trainlist01.txt, testlist01.txt).
    """
    from vssl.errors import InputError
    from vssl.synth import make_synth

    w, h = parse_size(size)
    try:
        summary = make_synth(out, classes=classes, videos_per_class=videos_per_class, size=(w, h), frames=frames,
                             seed=seed, gop=gop, bframes=bframes, bias=bias, bias_strength=bias_strength,
                             test_fraction=test_fraction, camera=camera, progress=True)
    except ValueError as e:
        raise InputError(str(e)) from None
    n = summary["n_videos"]
    console.print(f"[green]wrote[/green] {n} videos to {out}")


def extract(
    input: Annotated[Path, typer.Argument(help="A directory of videos (recursive), a list file, or a dataset root with split files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache directory to write (created; resumed if it exists).")],
    splits: Annotated[Optional[Path], typer.Option(help="Directory with split files (classInd.txt/trainlist01.txt, HMDB51 *_test_splitN.txt, Kinetics CSV). Default: look in INPUT.")] = None,
    size: Annotated[int, typer.Option(help="Short side of stored JPEG keyframes and frames (never upscaled).")] = 128,
    frames: Annotated[bool, typer.Option("--frames/--no-frames", help="Store frames as JPEG for the RGB methods.")] = True,
    frame_stride: Annotated[int, typer.Option(help="Store every k-th frame.")] = 1,
    jpeg_quality: Annotated[int, typer.Option(help="JPEG quality 1-100.")] = 90,
    reencode: Annotated[str, typer.Option(help="auto: re-encode non-H.264 inputs and GOPs > --max-gop to canonical H.264 (1 reference, no B-frames); always; never.")] = "auto",
    max_gop: Annotated[int, typer.Option(help="Longest GOP kept as is (CMD needs an I-frame near every clip).")] = 12,
    mv_short_side: Annotated[Optional[int], typer.Option(help="Short side of a re-encoded stream and so of its motion vectors (default: --size, the frames the networks see; 0: the source resolution). Videos kept as they are keep the source's vectors.")] = None,
    reencode_preset: Annotated[str, typer.Option(help="x264 settings of a re-encode. fast: x264 veryfast with a diamond motion search, subme 1 and CAVLC, the source decoded without deblocking when scaled down by 2 or more (1.25-1.37x the speed on 640x360 H.264 clips, the same vector error on synth ground truth); veryfast: x264's preset as it is.")] = "fast",
    reencode_pass: Annotated[str, typer.Option(help="stream: re-encode in one pass in memory (decode, scale, encode, decode the new packets); file: through a temporary file decoded again (same frames, slower).")] = "stream",
    min_frames: Annotated[int, typer.Option(help="Videos with fewer frames are recorded as failed (shorter than one clip).")] = 16,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Worker processes (0 = all cores).")] = 0,
    decoder: Annotated[str, typer.Option(help="auto (= pyav, the faster per core), pyav, or mvextractor.")] = "auto",
    shard_size: Annotated[str, typer.Option(help="Target shard size, e.g. 1G, 200M.")] = "1G",
    num_shards: Annotated[Optional[int], typer.Option(help="Split the inputs across K machines (default $SLURM_ARRAY_TASK_COUNT or 1).")] = None,
    shard_index: Annotated[Optional[int], typer.Option(help="Which part this machine does, 0..K-1 (default $SLURM_ARRAY_TASK_ID or 0).")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first failed video.")] = False,
    retry_failed: Annotated[bool, typer.Option(help="On resume, try videos recorded as failed again.")] = False,
    force: Annotated[bool, typer.Option(help="Delete an existing cache in --out and start over.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Extract keyframes, motion vectors, frame types (and frames) into HDF5 shards.

    Resumable: rerun the same command after a crash or kill and only unfinished videos are
    redone. Exit code 1 if any video failed (each is listed in the manifest with a reason).
    """
    from vssl.preprocess.extract import ExtractOptions, extract as run_extract

    opts = ExtractOptions(
        size=size, frames=frames, frame_stride=frame_stride, jpeg_quality=jpeg_quality, reencode=reencode,
        max_gop=max_gop, reencode_preset=reencode_preset, reencode_pass=reencode_pass, mv_short_side=mv_short_side, min_frames=min_frames, workers=workers, shard_size=parse_bytes(shard_size),
        num_shards=num_shards if num_shards is not None else env_int("SLURM_ARRAY_TASK_COUNT", default=1),
        shard_index=shard_index if shard_index is not None else env_int("SLURM_ARRAY_TASK_ID", default=0),
        strict=strict, retry_failed=retry_failed, decoder=decoder,
    )
    s = run_extract(input, out, opts, splits_dir=splits, force=force, quiet=quiet)
    for w in s.warnings[:20]:
        err_console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    if len(s.warnings) > 20:
        err_console.print(f"[yellow]warning:[/yellow] ... and {len(s.warnings) - 20} more")
    _extract_summary(s)
    if s.result.interrupted:
        from vssl.signals import exit_code_of, signal_name

        r = s.result
        err_console.print(f"[yellow]stopped:[/yellow] {signal_name(r.stop_signal)}: {len(r.records)} videos "
                          f"committed ({len(r.records) - r.skipped} in this run), the video in progress dropped; rerun the same command "
                          "to resume", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code_of(r.stop_signal))
    if s.result.stopped_strict:
        err_console.print(f"[bold red]stopped (--strict):[/bold red] {s.result.stopped_strict}", highlight=False)
        raise typer.Exit(EXIT_SOME_FAILED)
    if s.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _extract_summary(s) -> None:
    from rich.table import Table

    t = Table(title="vssl extract", show_header=False)
    t.add_row("videos ok", str(s.ok))
    t.add_row("videos failed", f"[red]{s.failed}[/red]" if s.failed else "0")
    t.add_row("done in this run / already done", f"{s.result.new} / {s.result.skipped}")
    t.add_row("frames", f"{s.frames:,}")
    fps = s.frames / s.seconds if s.seconds > 0 and s.result.new else 0
    t.add_row("time", f"{s.seconds:.1f} s" + (f" ({fps:,.0f} frames/s incl. resumed)" if fps else ""))
    t.add_row("manifest", str(s.manifest_path))
    console.print(t)
    failed = [r for r in s.result.records if r.get("status") != "ok"]
    for r in failed[:20]:
        err_console.print(f"[red]failed[/red] {r['id']}: {r.get('reason')}", highlight=False)
    if len(failed) > 20:
        err_console.print(f"... {len(failed) - 20} more failures in the manifest")


def merge(
    caches: Annotated[list[Path], typer.Argument(help="Cache directories (or one directory holding part manifests).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Merged cache (default: the single input).")] = None,
):
    """Join the parts of a --num-shards extraction (or several caches) into one cache."""
    from vssl.io.merge import merge_caches

    path, n, warnings = merge_caches(caches, out)
    for w in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    console.print(f"[green]merged[/green] {n} videos into {path}")


def verify(
    cache: Annotated[Path, typer.Argument(help="Cache directory.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="First make the manifests agree with the committed shards: "
                                         "delete shards whose videos are all kept in other shards, list the "
                                         "videos of unlisted shards that verify. Deletes nothing else.")] = False,
):
    """Re-read every shard: checksums, JPEG decodability, array shapes. Exit 1 on any problem."""
    from vssl.io.verify import repair_cache, verify_cache

    if repair:
        for a in repair_cache(cache):
            console.print(f"[green]repair[/green]: {a}", highlight=False)
    rep = verify_cache(cache, quiet=quiet)
    for p in rep.problems[:50]:
        err_console.print(f"[red]problem[/red] {p}", highlight=False)
    if len(rep.problems) > 50:
        err_console.print(f"... and {len(rep.problems) - 50} more problems")
    subs = f" (+ {', '.join(rep.subcaches)})" if rep.subcaches else ""
    if rep.problems:
        err_console.print(f"[bold red]{len(rep.problems)} problems[/bold red] in {rep.checked} videos checked{subs}")
        raise typer.Exit(EXIT_SOME_FAILED)
    console.print(f"[green]ok[/green]: {rep.checked} videos checked{subs}, no problems")


def info(
    cache: Annotated[Path, typer.Argument(help="Cache directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
):
    """Describe a cache: videos ok/failed, frames, keyframes, GOPs, classes, splits, size."""
    import json

    from rich.table import Table

    from vssl.io.verify import cache_info

    i = cache_info(cache)
    if as_json:
        typer.echo(json.dumps(i, indent=1))
        return
    t = Table(title=f"vssl cache {i['root']}", show_header=False)
    t.add_row("videos ok / failed", f"{i['videos_ok']} / {i['videos_failed']}")
    t.add_row("frames / keyframes / stored frames", f"{i['frames']:,} / {i['keyframes']:,} / {i['stored_frames']:,}")
    t.add_row("GOP mean / max", f"{i['gop_mean']:.1f} / {i['gop_max']}")
    t.add_row("re-encoded / exact MVs", f"{i['reencoded']} / {i['mv_exact']}")
    t.add_row("size on disk", human_bytes(i["bytes"]))
    t.add_row("vssl version", str(i["vssl_version"]))
    o = i["options"] or {}
    t.add_row("options", ", ".join(f"{k}={v}" for k, v in o.items()))
    for kind, s in i["subcaches"].items():
        t.add_row(f"precompute {kind}", s.get("error") or f"{s['videos_ok']} ok, {s['videos_failed']} failed, {human_bytes(s['bytes'])}")
    console.print(t)
    if i["per_class"]:
        ct = Table(title="per class")
        ct.add_column("class")
        ct.add_column("videos", justify="right")
        for k, v in i["per_class"].items():
            ct.add_row(k, str(v))
        console.print(ct)
    if i["per_split"]:
        st = Table(title="per split")
        st.add_column("split")
        st.add_column("videos", justify="right")
        for k, v in i["per_split"].items():
            st.add_row(k, str(v))
        console.print(st)
    for vid, reason in i["failures"][:20]:
        err_console.print(f"[red]failed[/red] {vid}: {reason}", highlight=False)


def register(app: typer.Typer) -> None:
    for fn in (synth, extract, merge, verify, info):
        app.command(fn.__name__)(error_boundary(fn))
