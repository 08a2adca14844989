"""`vssl eval ...` (retrieval, linear, knn, finetune, scene-bias) and `vssl report`.

Every eval command takes the weights (``--checkpoint`` RUN_DIR or exported .pt,
or ``--random-init``), the cache and the clip options, and writes into
``--out EVAL_DIR``: ``metrics.json`` / ``metrics.csv`` (one section per
protocol, merged), PNG figures, and ``features/{train,test}.npz``, the clip
features shared by retrieval, linear and knn (computed once per weights, cache
and clip options).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from vssl.cli.common import console, err_console, error_boundary
from vssl.models.specs import backbone_help

eval_app = typer.Typer(
    help="Evaluate a pretrained backbone: retrieval, linear probe, kNN, finetuning, scene bias. "
    "All write metrics.json, metrics.csv and PNGs into --out; retrieval, linear and knn share cached features.",
    no_args_is_help=True,
)

# ----------------------------------------------------------------------------- shared options

CacheDir = Annotated[Path, typer.Option("--cache", "-c", help="Extracted cache (vssl extract) with frames and splits.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Eval directory (created; results of several commands are merged).")]
Checkpoint = Annotated[Optional[Path], typer.Option(
    "--checkpoint", help="A `vssl pretrain` run directory (newest checkpoint, backbone from config.yaml), "
    "one of its checkpoint files, or an exported backbone .pt (`vssl export`).")]
Backbone = Annotated[Optional[str], typer.Option(
    help=f"Backbone (feature size, clip it is meant for): {backbone_help()}. Default: the run's config, else r3d_18.")]
RandomInit = Annotated[bool, typer.Option("--random-init", help="Evaluate randomly initialised weights (baseline).")]
Split = Annotated[str, typer.Option(help="Split number of the cache's split files (query = test, gallery/train = train).")]
Clips = Annotated[Optional[int], typer.Option(help="Evenly spaced clips per video (default 10, or the preset's).")]
ClipLen = Annotated[Optional[int], typer.Option(help="Frames per clip (default: the run's data.clip_len, else 16).")]
Stride = Annotated[Optional[int], typer.Option(help="Temporal stride between the frames of a clip (default: the run's data.stride, else 1).")]
Resize = Annotated[Optional[int], typer.Option(help="Short side the frames are resized to (default: the short side of the run's data.load_size, else 128).")]
Size = Annotated[Optional[int], typer.Option("--size", help="Side of the centre crop fed to the network (default: the run's crop, else 112).")]
Preset = Annotated[Optional[str], typer.Option(help="Evaluation settings of a pretraining preset (e.g. demo: tiny backbone, "
                                                     "8-frame clips, crop 56); flags override them.")]
Input = Annotated[str, typer.Option("--input", help="What the network sees: auto (what the run was trained on, else rgb), rgb, or diff (frame differences: the matching random baseline of a data.input=diff run).")]
Normalize = Annotated[str, typer.Option(help="Input normalisation: auto (from the run's config, else kinetics), "
                                              "kinetics, imagenet, none.")]
BatchSize = Annotated[int, typer.Option(help="Clips per inference batch.")]
Workers = Annotated[Optional[int], typer.Option("--workers", "-j", help="DataLoader workers decoding JPEG (default: min(8, cores)).")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 (default: cuda when available).")]
Seed = Annotated[int, typer.Option(help="Seed (random init, t-SNE, probe, finetuning).")]
Force = Annotated[bool, typer.Option(help="Replace results of other weights / cache in --out (and restart a finetune of other options).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _session(cache, out, checkpoint, backbone, random_init, split, clips, clip_len, stride, resize, size, normalize,
             batch_size, workers, device, seed, force, quiet, amp=True, preset=None, input_="auto"):
    from vssl.eval.features import FeatureOptions, Runtime
    from vssl.eval.session import EvalConfig, EvalSession, clip_options

    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    o = clip_options(checkpoint, preset, backbone=backbone, clips=clips, clip_len=clip_len, stride=stride,
                     resize=resize, size=size, random_init=random_init)
    backbone, clips, clip_len, stride, resize, size = (o[k] for k in ("backbone", "clips", "clip_len", "stride",
                                                                      "resize", "size"))
    cfg = EvalConfig(
        cache=cache, out=out, checkpoint=checkpoint, backbone=backbone, random_init=random_init, seed=seed,
        split=split, force=force,
        features=FeatureOptions(clips=clips, clip_len=clip_len, stride=stride, resize=resize, crop=size,
                                normalize=normalize, input=input_),
        runtime=Runtime(batch_size=batch_size, workers=workers, device=device, amp=amp, progress=not quiet),
    )
    return EvalSession(cfg)


def _header(s, what: str) -> None:
    m = s.meta
    src = "random init" if m["source"] == "random_init" else (m.get("checkpoint") or m.get("path"))
    console.print(f"[bold]vssl eval {what}[/bold]: {m['backbone']} ({src}), cache {s.cache.root}, split {s.split}",
                  highlight=False)


def _features_line(result: dict) -> None:
    if result.get("features_cached"):
        console.print("features: loaded from the eval directory's cache", style="dim")
    else:
        secs = (result.get("seconds") or {}).get("features", 0.0)
        sz = result.get("sizes") or {}
        n = sz.get("train_clips", 0) + sz.get("test_clips", 0)
        rate = f" ({n / secs:,.0f} clips/s)" if secs > 0 else ""
        console.print(f"features: {n} clips in {secs:.1f} s{rate}", style="dim")


def _footer(s, result: dict) -> None:
    from vssl.eval.session import METRICS_FILE

    figs = ", ".join(Path(f).name for f in result.get("figures", []))
    console.print(f"wrote {s.out / METRICS_FILE}, metrics.csv" + (f", {figs}" if figs else ""), highlight=False)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


# ----------------------------------------------------------------------------- commands


@eval_app.command("retrieval")
@error_boundary
def retrieval(
    cache: CacheDir, out: Out, checkpoint: Checkpoint = None, backbone: Backbone = None, random_init: RandomInit = False,
    split: Split = "1", clips: Clips = None, clip_len: ClipLen = None, stride: Stride = None, resize: Resize = None,
    size: Size = None, normalize: Normalize = "auto", input_: Input = "auto", batch_size: BatchSize = 64, workers: Workers = None,
    device: Device = None, seed: Seed = 0, force: Force = False, quiet: Quiet = False, preset: Preset = None,
    center: Annotated[bool, typer.Option("--center", help="Centre features by the gallery mean before L2-normalising.")] = False,
    ks: Annotated[str, typer.Option(help="Comma-separated k of recall at k.")] = "1,5,10,20,50",
    clip_level: Annotated[bool, typer.Option("--clip-level/--no-clip-level", help="Also retrieve every test clip among all train clips.")] = True,
    tsne: Annotated[bool, typer.Option("--tsne/--no-tsne", help="Draw the t-SNE of the test videos.")] = True,
):
    """Video retrieval: query = test videos, gallery = train videos; recall at k.

    Clip features are averaged per video and L2-normalised (cosine
    similarity); a hit at k is a gallery video of the query's class among the
    k nearest. The clip-level variant ranks every test clip among all train
    clips. Writes retrieval_recall.png and tsne_test.png.
    """
    from rich.table import Table

    from vssl.errors import InputError
    from vssl.eval.protocols import RetrievalOptions, run_retrieval

    try:
        k_list = [int(k) for k in ks.split(",") if k.strip()]
    except ValueError:
        raise InputError(f"--ks must be comma-separated integers, not '{ks}'") from None
    s = _session(cache, out, checkpoint, backbone, random_init, split, clips, clip_len, stride, resize, size, normalize,
                 batch_size, workers, device, seed, force, quiet, preset=preset, input_=input_)
    _header(s, "retrieval")
    r = run_retrieval(s, RetrievalOptions(ks=k_list, center=center, clip_level=clip_level, tsne=tsne))
    _features_line(r)
    t = Table(title=f"Retrieval, split {s.split}: {r['sizes']['test_videos']} queries, "
                    f"{r['sizes']['train_videos']} gallery videos (recall %)")
    t.add_column("level")
    for k in k_list:
        t.add_column(f"R@{k}", justify="right")
    for lvl, rec in r["recall"].items():
        t.add_row(lvl, *[_pct(rec.get(str(k))) for k in k_list])
    console.print(t)
    _footer(s, r)


@eval_app.command("linear")
@error_boundary
def linear(
    cache: CacheDir, out: Out, checkpoint: Checkpoint = None, backbone: Backbone = None, random_init: RandomInit = False,
    split: Split = "1", clips: Clips = None, clip_len: ClipLen = None, stride: Stride = None, resize: Resize = None,
    size: Size = None, normalize: Normalize = "auto", input_: Input = "auto", batch_size: BatchSize = 64, workers: Workers = None,
    device: Device = None, seed: Seed = 0, force: Force = False, quiet: Quiet = False, preset: Preset = None,
    solver: Annotated[str, typer.Option(help="sgd (minibatch SGD, cosine lr) or lbfgs (scikit-learn, deterministic).")] = "sgd",
    epochs: Annotated[int, typer.Option(help="SGD epochs over the train clips.")] = 100,
    lr: Annotated[float, typer.Option(help="SGD learning rate (features are standardised).")] = 0.1,
    wd: Annotated[float, typer.Option(help="L2 penalty on the weights.")] = 0.0,
    probe_batch_size: Annotated[int, typer.Option(help="SGD batch size.")] = 256,
):
    """Linear probe: frozen backbone, a linear classifier on the cached clip
    features.

    Trained on every train clip; tested at video level (softmax of the clip
    predictions averaged over a video's clips): top-1 and top-5. Writes
    confusion_linear.png.
    """
    from rich.table import Table

    from vssl.eval.protocols import LinearOptions, run_linear

    s = _session(cache, out, checkpoint, backbone, random_init, split, clips, clip_len, stride, resize, size, normalize,
                 batch_size, workers, device, seed, force, quiet, preset=preset, input_=input_)
    _header(s, "linear")
    r = run_linear(s, LinearOptions(method=solver, epochs=epochs, lr=lr, wd=wd, batch_size=probe_batch_size))
    _features_line(r)
    m = r["metrics"]
    t = Table(title=f"Linear probe ({solver}), split {s.split}: {r['sizes']['test_videos']} test videos (accuracy %)")
    for c in ("top-1", "top-5", "clip top-1", "train clip top-1"):
        t.add_column(c, justify="right")
    t.add_row(_pct(m["top1"]), _pct(m["top5"]), _pct(m["clip_top1"]), _pct(m["train_clip_top1"]))
    console.print(t)
    _footer(s, r)


@eval_app.command("knn")
@error_boundary
def knn(
    cache: CacheDir, out: Out, checkpoint: Checkpoint = None, backbone: Backbone = None, random_init: RandomInit = False,
    split: Split = "1", clips: Clips = None, clip_len: ClipLen = None, stride: Stride = None, resize: Resize = None,
    size: Size = None, normalize: Normalize = "auto", input_: Input = "auto", batch_size: BatchSize = 64, workers: Workers = None,
    device: Device = None, seed: Seed = 0, force: Force = False, quiet: Quiet = False, preset: Preset = None,
    k: Annotated[int, typer.Option("--k", help="Neighbours that vote.")] = 20,
    temperature: Annotated[float, typer.Option(help="Vote weight exp(cos / T).")] = 0.07,
):
    """Weighted k-NN classification (InstDisc vote) of test videos among train
    videos, on cached features.

    Video level (clip features averaged per video) and clip vote (every test
    clip votes among train clips, votes averaged per video). Writes
    confusion_knn.png.
    """
    from rich.table import Table

    from vssl.eval.protocols import KnnOptions, run_knn

    s = _session(cache, out, checkpoint, backbone, random_init, split, clips, clip_len, stride, resize, size, normalize,
                 batch_size, workers, device, seed, force, quiet, preset=preset, input_=input_)
    _header(s, "knn")
    r = run_knn(s, KnnOptions(k=k, temperature=temperature))
    _features_line(r)
    m = r["metrics"]
    t = Table(title=f"{k}-NN (T={temperature}), split {s.split}: {r['sizes']['test_videos']} test videos (accuracy %)")
    for c in ("top-1", "top-5", "clip vote top-1", "clip vote top-5"):
        t.add_column(c, justify="right")
    t.add_row(_pct(m["top1"]), _pct(m["top5"]), _pct(m["clip_vote/top1"]), _pct(m["clip_vote/top5"]))
    console.print(t)
    _footer(s, r)


@eval_app.command("finetune")
@error_boundary
def finetune(
    cache: CacheDir, out: Out, checkpoint: Checkpoint = None, backbone: Backbone = None, random_init: RandomInit = False,
    split: Split = "1", clips: Annotated[Optional[int], typer.Option(help="Test clips per video (x --test-crops crops; default 10).")] = None,
    clip_len: ClipLen = None, stride: Stride = None,
    resize: Annotated[Optional[int], typer.Option(help="Short side of test frames; training frames are resize x resize*4/3 (default: the run's, else 128).")] = None,
    size: Size = None, normalize: Normalize = "auto", input_: Input = "auto",
    batch_size: Annotated[int, typer.Option(help="Training batch size (also used for test inference).")] = 32,
    workers: Workers = None, device: Device = None, seed: Seed = 0, force: Force = False, quiet: Quiet = False, preset: Preset = None,
    epochs: Annotated[int, typer.Option(help="Epochs over the train videos (one random clip per video and epoch).")] = 10,
    lr: Annotated[float, typer.Option(help="Peak SGD learning rate (linear warm-up, cosine decay).")] = 0.01,
    wd: Annotated[float, typer.Option(help="Weight decay (not on biases and norms).")] = 5e-4,
    momentum: Annotated[float, typer.Option(help="SGD momentum.")] = 0.9,
    warmup_epochs: Annotated[float, typer.Option(help="Linear warm-up length in epochs.")] = 1.0,
    dropout: Annotated[float, typer.Option(help="Dropout before the linear head.")] = 0.5,
    min_scale: Annotated[float, typer.Option(help="Random resized crop area scale range (min, 1).")] = 0.2,
    layer_decay: Annotated[float, typer.Option(help="Layer-wise lr decay of a ViT backbone (VideoMAE: 0.75); 1 = off.")] = 1.0,
    drop_path: Annotated[float, typer.Option(help="Stochastic depth of a ViT backbone at its last block (VideoMAE: 0.1); 0 = off.")] = 0.0,
    test_crops: Annotated[int, typer.Option(help="Spatial crops per test clip: 3 (left/centre/right) or 1.")] = 3,
    save_every: Annotated[int, typer.Option(help="Steps between checkpoints (also at every epoch end).")] = 500,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps in total (smoke tests); rerun without it to continue.")] = None,
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="bf16 autocast on CUDA.")] = True,
    loss: Annotated[str, typer.Option(help="ce (cross-entropy), or a supervised contrastive loss for the backbone with the head trained on detached features: supcon (every same-class queue key a positive), kcl (--kcl-k of them, Kang et al. 2021), tsc (KCL + uniformly spread class targets assigned online, Li et al. 2022).")] = "ce",
    long_tail: Annotated[Optional[float], typer.Option(help="Subsample the train split to this imbalance ratio (largest / smallest class; class c of C keeps n_max * IMB^(-c/(C-1)) videos, a seeded choice): a long-tailed train set from any labelled cache.")] = None,
    kcl_k: Annotated[int, typer.Option(help="kcl / tsc: same-class queue keys drawn as positives (reference 6).")] = 6,
    tsc_weight: Annotated[float, typer.Option(help="tsc: weight of the target term (reference 0.2).")] = 0.2,
    queue_size: Annotated[int, typer.Option(help="supcon / kcl / tsc: labelled keys in the queue (reference 65536).")] = 65536,
    temperature: Annotated[float, typer.Option(help="supcon / kcl / tsc: softmax temperature (reference 0.07).")] = 0.07,
):
    """Finetune the whole backbone with a linear head on the train split; test at
    video level.

    Training: random clip per video, random resized crop + horizontal flip
    (same for all frames), SGD + cosine schedule, bf16 on CUDA. Test: --clips
    clips x --test-crops crops per video, softmax averaged. Resumable: rerun
    the same command after a crash or Ctrl-C and training continues from
    EVAL_DIR/finetune/checkpoint.pt. Writes confusion_finetune.png,
    finetune_loss.png.
    """
    from rich.table import Table

    from vssl.eval.finetune import FinetuneOptions, run_finetune

    s = _session(cache, out, checkpoint, backbone, random_init, split, clips, clip_len, stride, resize, size, normalize,
                 batch_size, workers, device, seed, force, quiet, amp=amp, preset=preset, input_=input_)
    _header(s, "finetune")
    r = run_finetune(s, FinetuneOptions(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, wd=wd,
                                        warmup_epochs=warmup_epochs, dropout=dropout, min_scale=min_scale,
                                        layer_decay=layer_decay, drop_path=drop_path,
                                        test_clips=clips, test_crops=test_crops, save_every=save_every,
                                        max_steps=max_steps, loss=loss, long_tail=long_tail, kcl_k=kcl_k,
                                        tsc_weight=tsc_weight, queue_size=queue_size, temperature=temperature))
    if r["resumed"]:
        console.print(f"resumed from {r['checkpoint']}", style="dim", highlight=False)
    m = r["metrics"]
    state = "complete" if r["complete"] else f"stopped at step {r['steps']} of {r['total_steps']} (rerun to continue)"
    t = Table(title=f"Finetune, split {s.split}: {r['steps']} steps, {state} (accuracy %)")
    for c in ("top-1", "top-5", "clip top-1", "final loss"):
        t.add_column(c, justify="right")
    fl = r["final_loss"]
    t.add_row(_pct(m["top1"]), _pct(m["top5"]), _pct(m["clip_top1"]), "-" if fl is None else f"{fl:.3f}")
    console.print(t)
    _footer(s, r)


@eval_app.command("scene-bias")
@error_boundary
def scene_bias(
    cache: CacheDir, out: Out, checkpoint: Checkpoint = None, backbone: Backbone = None, random_init: RandomInit = False,
    split: Split = "1", clips: Clips = None, clip_len: ClipLen = None, stride: Stride = None, resize: Resize = None,
    size: Size = None, normalize: Normalize = "auto", input_: Input = "auto", batch_size: BatchSize = 64, workers: Workers = None,
    device: Device = None, seed: Seed = 0, force: Force = False, quiet: Quiet = False, preset: Preset = None,
    mode: Annotated[str, typer.Option(help="auto (synth when the cache comes from `vssl synth`, else swap), synth, swap, both.")] = "auto",
    beta: Annotated[float, typer.Option(help="swap: fraction of each clip kept as foreground (FAME mask).")] = 0.5,
    masks: Annotated[str, typer.Option(help="swap: auto (CACHE/fame when present, else online), precomputed, online.")] = "auto",
    swap_clips: Annotated[Optional[int], typer.Option(help="swap: clips per test video (default --clips).")] = None,
    background: Annotated[str, typer.Option(help="swap: what of the other video is pasted: median (its static scene, "
                                                 "per-pixel temporal median) or clip (its frames, as FAME merges).")] = "median",
):
    """Scene bias: does the representation match videos by action or by background?

    synth mode (caches of `vssl synth` data; their test videos wear another
    class's background). Leave-one-out nearest neighbour among test videos:
    - action_R@1: the nearest test video has the query's class
    - background_R@1: it has the query's background family
    - chance_action / chance_background: the same for a random neighbour
    - scene_bias = background_R@1 - chance_background (0 = no scene bias)
    - bg_not_action: neighbours with the query's background, another action
    - train/action_R@1, train/background_R@1: the same for the nearest
      train video (in train, background family = class)

    swap mode (any cache). Each test clip's foreground (FAME mask: CACHE/fame
    when precomputed, else online) is pasted on the static background
    (temporal median) of a test video of another class:
    - swap/background_follow: share of swapped clips closer (cosine) to the
      background video than to the action video (0.5 = undecided,
      higher = scene-biased)
    - swap/nn_action, swap/nn_background: the nearest test video has the
      action video's / the background video's class
    """
    from rich.table import Table

    from vssl.eval.scene_bias import SceneBiasOptions, run_scene_bias

    s = _session(cache, out, checkpoint, backbone, random_init, split, clips, clip_len, stride, resize, size, normalize,
                 batch_size, workers, device, seed, force, quiet, preset=preset, input_=input_)
    _header(s, "scene-bias")
    r = run_scene_bias(s, SceneBiasOptions(mode=mode, beta=beta, masks=masks, swap_clips=swap_clips,
                                           background=background))
    t = Table(title=f"Scene bias ({r['mode']}), split {s.split}: {r['test_videos']} test videos")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for name, v in r["metrics"].items():
        t.add_row(name, f"{v:.3f}" if "sim_" in name else f"{100 * v:.1f} %")
    console.print(t)
    if "swap" in r:
        sw = r["swap"]
        console.print(f"swap: {sw['pairs']} pairs x {sw['clips_per_pair']} clips, {sw['masks']} FAME masks, "
                      f"beta {sw['beta']}, background {sw['background']}", style="dim")
    _footer(s, r)


def report(
    runs: Annotated[list[Path], typer.Argument(help="Eval directories (vssl eval --out) and/or pretraining run directories.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory (report.md, report.csv, PNGs).")] = Path("report"),
):
    """Put several eval / pretrain runs side by side: method, backbone, data,
    epochs and every metric.

    Writes report.md (Markdown table, best accuracy/recall per row in bold),
    report.csv, report.json, recall.png (all runs' video retrieval curves on
    one chart) and loss.png (pretraining loss curves from each run's
    metrics.jsonl).
    """
    from rich.table import Table

    from vssl.eval.report import build_report

    r = build_report(runs, out)
    t = Table(title=f"vssl report: {len(r['runs'])} runs (one row per pretraining run)")
    attrs = [a for a in ("method", "backbone", "epochs", "batch", "step")
             if any(getattr(x, a) is not None for x in r["runs"])]
    headline = ("retrieval/video/R@1", "linear/top1", "knn/top1", "finetune/top1", "scene_bias/scene_bias",
                "monitor/knn_top1")
    shown = [m for m in headline if m in r["metrics"]] or r["metrics"][:5]
    for c in ("run", *attrs, *shown):
        t.add_column(c, justify="right" if c in shown else "left", overflow="fold")
    for x in r["runs"]:
        t.add_row(x.name, *[str(getattr(x, a) if getattr(x, a) is not None else "-") for a in attrs],
                  *[("-" if x.metrics.get(m) is None else (f"{x.metrics[m]:.3f}" if "sim_" in m
                                                           else f"{100 * x.metrics[m]:.1f}")) for m in shown])
    console.print(t)
    if len(r["metrics"]) > len(shown):
        err_console.print(f"... {len(r['metrics']) - len(shown)} more metrics in report.md", style="dim")
    console.print(f"wrote {', '.join(Path(f).name for f in r['files'])} to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
    app.command("report")(error_boundary(report))
