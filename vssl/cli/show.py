"""`vssl show fame|be`: look at what FAME and BE do to a clip of a cache (PNG figures).

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg backend (no pyplot,
no display). The builders :func:`fame_figure` and :func:`be_figure` return the figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from vssl.cli.common import console, error_boundary

app = typer.Typer(name="show", help="Draw FAME masks and BE static-frame mixes of a cached clip to a PNG.",
                  no_args_is_help=True)

N_COLS = 4


def _figure(cols: int, rows: int, title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.3 * cols, 1.75 * rows + 0.3), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=9)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def _img(ax, img, title: str, cmap=None, vmin=None, vmax=None) -> None:
    ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=7)


def _window(cache, vid: str, t0: int, window: int) -> tuple[int, int]:
    from vssl.errors import InputError

    n = cache.video(vid).n_frames
    if n < 2:
        raise InputError(f"'{vid}' has {n} frames: nothing to show")
    window = min(window, n)
    if not 0 <= t0 < n:
        raise InputError(f"--t0 {t0} is outside '{vid}' (0..{n - 1})")
    return min(t0, n - window), window


def _other_video(cache, vid: str, other: str | None) -> str:
    from vssl.errors import InputError

    if other is not None:
        cache.video(other)
        return other
    ids = [v.id for v in cache.videos if v.id != vid]
    if not ids:
        raise InputError("the cache has one video only: no other background to merge onto (give --other)")
    return ids[0]


def _fit(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if frames.shape[1:3] == hw:
        return frames
    return np.stack([cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for f in frames])


def _precomputed(cache_root: Path, kind: str):
    from vssl.errors import CacheError
    from vssl.io.precomputed import PrecomputeCache

    try:
        return PrecomputeCache(cache_root, kind)
    except CacheError:
        return None


def fame_figure(cache_root: Path, vid: str, *, t0: int = 0, beta: float = 0.5, other: str | None = None,
                motion_source: str | None = None, window: int | None = None):
    """Frames of a window, its motion map, soft score (online and stored), mask and merge.

    Row 1: four frames of the window. Row 2: motion map, soft score computed now,
    the stored score of the nearest precomputed window (when ``vssl precompute
    fame`` ran), the binary mask (top ``beta``). Row 3: the same four frames with
    their background replaced by ``other``'s frames (FAME's merge).
    """
    import torch

    from vssl.io import schema
    from vssl.io.cache import Cache
    from vssl.ops.fame import fame_score, mask_from_score, motion_map_from_frames
    from vssl.preprocess.fame import mv_motion_map

    pre = _precomputed(cache_root, "fame")
    po = pre.options if pre is not None else {}
    window = window or int(po.get("window", 16))
    motion_source = motion_source or po.get("motion_source", "frames")
    with Cache(cache_root) as cache:
        t0, window = _window(cache, vid, t0, window)
        info = cache.video(vid)
        frames = cache.read_frames(vid, t0, t0 + window)  # (T, H, W, 3)
        other = _other_video(cache, vid, other)
        ot0, _ = _window(cache, other, 0, window)
        bg = _fit(cache.read_frames(other, ot0, ot0 + min(window, cache.video(other).n_frames)), frames.shape[1:3])
        x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 255.0
        if motion_source == "mv":
            mv, valid = cache.read_mv(vid, t0 + 1, t0 + window)
            motion = mv_motion_map(mv[None], valid[None], schema.mv_hw(info.record), frames.shape[1:3])
        else:
            motion = motion_map_from_frames(x)
    score = fame_score(x, motion, colour_space=po.get("colour_space", "wheel"))
    mask = mask_from_score(score, beta)[0, 0].numpy()
    fig, ax = _figure(N_COLS, 3, f"FAME  {vid}  frames {t0}..{t0 + window - 1}  (beta={beta}, motion from {motion_source})")
    show_t = np.linspace(0, window - 1, N_COLS).round().astype(int)
    for c, t in enumerate(show_t):
        _img(ax[0, c], frames[t], f"frame {t0 + t}")
        merged = mask[..., None] * frames[t] + (1 - mask[..., None]) * bg[min(t, len(bg) - 1)]
        title = f"merged onto {other.rsplit('/', 1)[-1][:18]}" if c == 0 else f"frame {t0 + t}"
        _img(ax[2, c], merged.astype(np.uint8), title)
    _img(ax[1, 0], motion[0].numpy(), "motion map", cmap="magma")
    _img(ax[1, 1], score[0].numpy(), "soft score (now)", cmap="viridis", vmin=0, vmax=1)
    if pre is not None and vid in pre:
        i = pre.window_index(vid, t0)
        start = int(pre.window_starts(vid)[i])
        _img(ax[1, 2], pre.read_score(vid, t0), f"stored score (start {start})", cmap="viridis", vmin=0, vmax=1)
    else:
        ax[1, 2].text(0.5, 0.5, "not precomputed\n(vssl precompute fame)", ha="center", va="center", fontsize=7)
    _img(ax[1, 3], mask, f"mask (top {beta:.0%})", cmap="gray", vmin=0, vmax=1)
    if pre is not None:
        pre.close()
    return fig


def be_figure(cache_root: Path, vid: str, *, t0: int = 0, lambdas=(0.1, 0.2, 0.3), window: int | None = None):
    """Original frames, the static frame and the BE mixes ``(1 - l) x + l static`` for a few ``l``.

    Rows: the first and last frame of the window, so the motion kept by the mix shows.
    The static frame is the stored one (``vssl precompute be``) or, when there is
    none, the middle frame of the window.
    """
    import torch

    from vssl.ops.be import be_mix
    from vssl.io.cache import Cache

    pre = _precomputed(cache_root, "be")
    window = window or int(pre.options.get("window", 16) if pre is not None else 16)
    with Cache(cache_root) as cache:
        t0, window = _window(cache, vid, t0, window)
        frames = cache.read_frames(vid, t0, t0 + window)
    if pre is not None and vid in pre:
        static = pre.read_window(vid, t0)[0]
        ts = pre.static_frame_index(vid, t0)
        label = f"static: stored ({pre.options.get('kind')}{', frame ' + str(int(ts[0])) if ts[0] >= 0 else ''})"
        pre.close()
    else:
        static = frames[window // 2]
        label = f"static: frame {t0 + window // 2} (not precomputed)"
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 255.0
    s = torch.from_numpy(np.ascontiguousarray(static)).permute(2, 0, 1)[None].float() / 255.0
    cols = 2 + len(lambdas)
    fig, ax = _figure(cols, 2, f"Background Erasing  {vid}  frames {t0}..{t0 + window - 1}")
    for r, t in enumerate((0, window - 1)):
        _img(ax[r, 0], frames[t], f"original, frame {t0 + t}")
        _img(ax[r, 1], static, label if r == 0 else "static (same for all frames)")
        for c, lam in enumerate(lambdas):
            mixed = be_mix(x[:, :, t : t + 1], s, float(lam))[0, :, 0].permute(1, 2, 0).numpy()
            _img(ax[r, 2 + c], (mixed.clip(0, 1) * 255).round().astype(np.uint8), f"mixed, lambda={lam:g}")
    return fig


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


CacheArg = Annotated[Path, typer.Argument(help="Cache directory.")]
VideoArg = Annotated[str, typer.Argument(help="Video id as in the manifest (e.g. Class/v_x.mp4).")]
T0Opt = Annotated[int, typer.Option(help="First frame of the window shown.")]


def fame(
    cache: CacheArg,
    video_id: VideoArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG (or PDF/SVG) to write.")] = Path("fame.png"),
    t0: T0Opt = 0,
    beta: Annotated[float, typer.Option(help="Foreground fraction of the binary mask.")] = 0.5,
    other: Annotated[Optional[str], typer.Option(help="Video whose frames become the background (default: another video of the cache).")] = None,
    motion_source: Annotated[Optional[str], typer.Option(help="frames or mv (default: as precomputed, else frames).")] = None,
    window: Annotated[Optional[int], typer.Option(help="Frames per window (default: as precomputed, else 16).")] = None,
):
    """Frames, motion map, soft score, binary mask and the clip merged onto another video."""
    from vssl.errors import InputError

    if not 0.0 < beta <= 1.0:
        raise InputError(f"--beta must be in (0, 1] (got {beta})")
    if motion_source not in (None, "frames", "mv"):
        raise InputError(f"--motion-source must be frames or mv, not '{motion_source}'")
    fig = fame_figure(cache, video_id, t0=t0, beta=beta, other=other, motion_source=motion_source, window=window)
    console.print(f"[green]wrote[/green] {_save(fig, out)}")


def be(
    cache: CacheArg,
    video_id: VideoArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG (or PDF/SVG) to write.")] = Path("be.png"),
    t0: T0Opt = 0,
    lambdas: Annotated[str, typer.Option(help="Comma-separated mixing weights (BE draws U[0, 0.3]).")] = "0.1,0.2,0.3",
    window: Annotated[Optional[int], typer.Option(help="Frames per window (default: as precomputed, else 16).")] = None,
):
    """Original frames, the static frame, and BE mixes for a few lambdas."""
    from vssl.errors import InputError

    try:
        lams = tuple(float(v) for v in lambdas.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--lambdas must look like 0.1,0.2,0.3, not '{lambdas}'") from None
    if not lams or any(not 0.0 <= v <= 1.0 for v in lams):
        raise InputError(f"--lambdas must be numbers in [0, 1], not '{lambdas}'")
    fig = be_figure(cache, video_id, t0=t0, lambdas=lams, window=window)
    console.print(f"[green]wrote[/green] {_save(fig, out)}")


def register(root: typer.Typer) -> None:
    for fn in (fame, be):
        app.command(fn.__name__)(error_boundary(fn))
    root.add_typer(app, name="show")
