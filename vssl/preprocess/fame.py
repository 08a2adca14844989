"""`vssl precompute fame`: the FAME soft foreground score map of every clip window of a video.

FAME (Ding et al. CVPR 2022, https://arxiv.org/abs/2109.15130): the soft
foreground score of each window (:func:`vssl.ops.fame.fame_score` on the
window's cached frames at the cached resolution), stored as uint8 at that
resolution times ``scale``. The motion map comes from frame differences
(``motion_source="frames"``, the paper) or from the cached motion vectors
(``"mv"``: mean length of the dense vector field over the window). Masks are
not stored: training crops and flips the score map with its clip and keeps the
top ``beta`` fraction (RECIPES, FAME: "store soft score maps per clip window
and crop them with the clip, threshold at beta at training time").

The run over the cache (sharding, resume, manifest): :mod:`vssl.preprocess.precompute`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vssl.errors import InputError
from vssl.io import schema
from vssl.io.h5 import compressed
from vssl.io.precomputed import SCORE_SCALE, data_checksum, scaled_size, window_starts
from vssl.io.shards import Job
from vssl.preprocess._windows import batches, check_windows, read_frames, too_short

# One intra-op thread per worker: the maps are small, so torch's threads gain little,
# and on a busy machine they spin against each other (measured on 2 loaded cores:
# 160 windows in 1.3 s with one thread, 7.4 s with two). More cores: more workers.
TORCH_THREADS = 1


@dataclass
class FameOptions:
    """What `vssl precompute fame` stores (:meth:`content` is recorded in the manifest; device is not)."""

    window: int = 16
    stride: int = 8
    motion_source: str = "frames"  # frames (the paper) | mv (cached motion vectors)
    scale: float = 1.0  # stored map size = cached frame size x scale
    colour_space: str = "wheel"  # see vssl.ops.fame.colour_bins
    device: str = "cpu"  # not stored content; cpu and cuda agree up to float rounding

    KIND = "fame"

    def validate(self) -> None:
        from vssl.ops.fame import COLOUR_SPACES

        check_windows(self.window, self.stride, minimum=2)
        if self.motion_source not in ("frames", "mv"):
            raise InputError(f"--motion-source must be frames or mv, not '{self.motion_source}'")
        if not 0.0 < self.scale <= 1.0:
            raise InputError(f"--scale must be in (0, 1] (got {self.scale})")
        if self.colour_space not in COLOUR_SPACES:
            raise InputError(f"--colour-space must be one of {', '.join(COLOUR_SPACES)}, not '{self.colour_space}'")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"--device must be cpu or cuda, not '{self.device}'")
        if self.device != "cpu":
            import torch

            if not torch.cuda.is_available():
                raise InputError("--device cuda: no CUDA device is available here (use --device cpu)")

    def content(self) -> dict:
        return {k: getattr(self, k) for k in ("window", "stride", "motion_source", "scale", "colour_space")}


Options = FameOptions  # the name vssl.preprocess.precompute.KINDS looks up


# ----------------------------------------------------------------------------- windows -> scores


def _window_clips(frames: dict[int, np.ndarray], starts: np.ndarray, window: int, device):
    """Clips ``(B, 3, window, H, W)`` float in [0, 1] of the windows ``starts`` (read-only views).

    Each distinct frame is moved and converted once; overlapping windows of a run of
    consecutive frames are strided views of it (no copy), otherwise they are gathered.
    """
    import torch

    ts = sorted(frames)
    span = torch.from_numpy(np.stack([frames[t] for t in ts])).to(device)  # (F, H, W, 3) uint8
    # (3, F, H, W) contiguous: fame_score runs about 1.5x faster on it than on channels-last views
    span = span.permute(3, 0, 1, 2).float().div_(255.0).contiguous()
    c, f, h, w = span.shape
    offsets = [int(s) - ts[0] for s in starts]
    if ts == list(range(ts[0], ts[0] + f)) and len(set(np.diff(offsets))) <= 1:
        step = offsets[1] - offsets[0] if len(offsets) > 1 else 0
        return span.as_strided((len(offsets), c, window, h, w), (step * h * w, f * h * w, h * w, w, 1))
    pos = {t: i for i, t in enumerate(ts)}
    idx = torch.tensor([[pos[int(s) + j] for j in range(window)] for s in starts], device=device)
    return span[:, idx].permute(1, 0, 2, 3, 4)


def mv_motion_map(mv: np.ndarray, valid: np.ndarray, source_hw: tuple[int, int], out_hw: tuple[int, int], device="cpu"):
    """Motion map ``(B, H, W)`` (pixels per frame) from cached vectors of ``B`` windows.

    Args:
        mv: int16 ``(B, T, Hg, Wg, 2)`` quarter-pel vectors (the cache's ``mv``).
        valid: ``(B, T)`` the cache's ``mv_valid``.
        source_hw: the frame size the 4x4 grid refers to (:func:`vssl.io.schema.mv_hw`).
        out_hw: cached frame size ``(H, W)`` to map to.

    The grid covers ``4 * Hg x 4 * Wg`` source pixels (a little more than the frame
    when a side is not a multiple of 4): it is upsampled to that extent at the
    cached scale and cropped to ``out_hw``, so cells stay aligned with pixels.
    """
    import torch

    from vssl.ops.fame import motion_map_from_mv

    hs, ws = source_hw
    h, w = out_hw
    gh, gw = mv.shape[2:4]
    full = (max(h, int(round(schema.MV_BLOCK * gh * h / hs))), max(w, int(round(schema.MV_BLOCK * gw * w / ws))))
    t = torch.from_numpy(np.ascontiguousarray(mv)).to(device).permute(0, 4, 1, 2, 3).float() / schema.MV_SCALE
    m = motion_map_from_mv(t, torch.from_numpy(np.asarray(valid)).to(device), out_hw=full)
    return m[:, :h, :w]


def fame_scores(x, motion=None, *, scale: float = 1.0, colour_space: str = "wheel"):
    """FAME scores of clips ``x`` ``(B, 3, T, H, W)`` as stored: uint8-ready float ``(B, Hs, Ws)`` in [0, 1].

    ``scale < 1`` resizes the score (bilinear with antialiasing) after it is computed
    at full resolution, so the stored map is a smaller copy of the same score.
    """
    import torch.nn.functional as F

    from vssl.ops.fame import fame_score

    s = fame_score(x, motion, colour_space=colour_space)
    if scale != 1.0:
        hs, ws = scaled_size(s.shape[1], s.shape[2], scale)
        s = F.interpolate(s[:, None], size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)[:, 0]
    return s.clamp(0.0, 1.0)


def quantise_score(s) -> np.ndarray:
    """float score in [0, 1] (torch) -> uint8 numpy ``round(s * 255)``."""
    import torch

    return (s * SCORE_SCALE).round().to(torch.uint8).cpu().numpy()


# ----------------------------------------------------------------------------- one video


def compute_video(job: Job, group, ctx) -> dict:
    """Work function: FAME score maps of every window of one video into ``group``."""
    import torch

    cache, opts, run = ctx.state["cache"], ctx.state["opts"], ctx.state["run"]
    p = job.payload
    n, h, w = p["n_frames"], p["stored_height"], p["stored_width"]
    starts = window_starts(n, opts.window, opts.stride)
    if len(starts) == 0:
        raise too_short(n, opts.window)
    hs, ws = scaled_size(h, w, opts.scale)
    device = torch.device(opts.device)
    ds = group.create_dataset("score", shape=(len(starts), hs, ws), dtype=np.uint8, chunks=(1, hs, ws),
                              **compressed())
    group.create_dataset("starts", data=starts)
    done_until = 0
    with torch.inference_mode():
        for i0, i1 in batches(len(starts), run.batch):
            s = starts[i0:i1]
            ts = (s[:, None] + np.arange(opts.window)[None]).reshape(-1)
            frames = read_frames(cache, job.id, ts)
            x = _window_clips(frames, s, opts.window, device)
            motion = None
            if opts.motion_source == "mv":
                lo, hi = int(s[0]) + 1, int(s[-1]) + opts.window
                mv, valid = cache.read_mv(job.id, lo, hi)
                idx = (s[:, None] - lo + 1 + np.arange(opts.window - 1)[None])  # frames s+1 .. s+window-1
                motion = mv_motion_map(mv[idx], valid[idx], tuple(p["mv_hw"]), (h, w), device)
            ds[i0:i1] = quantise_score(fame_scores(x, motion, scale=opts.scale, colour_space=opts.colour_space))
            end = int(s[-1]) + opts.window
            ctx.progress(end - done_until)
            done_until = end
    group.attrs.update(window=opts.window, stride=opts.stride, scale=opts.scale, motion_source=opts.motion_source)
    return {
        "n_frames": n, "n_windows": len(starts), "window": opts.window, "stride": opts.stride,
        "height": hs, "width": ws, "checksum": data_checksum(group, "fame"), "extract_checksum": p["checksum"],
    }


__all__ = ["FameOptions", "Options", "compute_video", "fame_scores", "mv_motion_map", "quantise_score"]
