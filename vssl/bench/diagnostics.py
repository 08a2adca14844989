"""Data diagnostics of ``vssl bench science``: how much of the moving object a method's views keep.

On a dataset that ships per-frame object masks (``vssl synth`` writes them to
``_groundtruth/<Class>/<stem>.npz``, key ``masks``), :func:`object_coverage`
measures, on one clip per train video at the benchmark's load size:

* ``object_area``: the fraction of the frame the moving object(s) cover over the
  clip (union over its frames);
* ``crop_kept``: the fraction of the object's pixels inside a random resized crop
  (torchvision's rule, area fraction ``U(min_scale, 1)``), and ``crop_lost``: the
  fraction of crops that keep less than a tenth of the object;
* ``fame_recall`` / ``fame_precision``: the object's pixels inside FAME's
  ``beta`` mask of the crop, and the mask's pixels on the object;
  ``merged_scene``: the fraction of a FAME-merged clip that is still the clip's own
  scene (``beta * (1 - precision)``). Where this is large the merged query still
  shares its background with the key, so the scene stays a shortcut.

Nothing here feeds training or evaluation; it explains them. The masks are read
only when the files exist (a real dataset has none: the result is ``None``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def groundtruth_masks(synth_root: Path, video_id: str) -> np.ndarray | None:
    """Bool ``(T, H, W)`` object masks of ``video_id`` (``<Class>/<file>.mp4``), or None."""
    from vssl.synth import GROUNDTRUTH_DIR

    p = Path(synth_root) / GROUNDTRUTH_DIR / Path(video_id).parent / (Path(video_id).stem + ".npz")
    if not p.is_file():
        return None
    with np.load(p) as z:
        return z["masks"].astype(bool) if "masks" in z.files else None


def object_coverage(cache_root: Path, synth_root: Path, *, load_hw: tuple[int, int], crop: int, clip_len: int,
                    beta: float = 0.5, min_scale: float = 0.2, n_videos: int = 48, seed: int = 0) -> dict | None:
    """See the module docstring. Returns means over up to ``n_videos`` train videos, or None."""
    import torch
    import torch.nn.functional as F

    from vssl.data.transforms import resized_crop, sample_crop_params
    from vssl.io.cache import Cache
    from vssl.ops.fame import fame_mask

    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    rows: list[tuple[float, ...]] = []
    with Cache(cache_root) as cache:
        for v in cache.split("1", "train")[:n_videos]:
            gt = groundtruth_masks(synth_root, v.id)
            if gt is None or gt.shape[0] < clip_len or v.n_frames < clip_len:
                continue
            t0 = int(rng.integers(0, min(gt.shape[0], v.n_frames) - clip_len + 1))
            frames = cache.read_frames(v.id, t0, t0 + clip_len)  # (T, h, w, 3) uint8
            x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float().div_(255)
            x = F.interpolate(x, size=(clip_len, *load_hw), mode="trilinear", align_corners=False)
            m = torch.from_numpy(gt[t0 : t0 + clip_len].any(0)).float()[None, None]
            m = F.interpolate(m, size=load_hw, mode="nearest")
            area = float(m.mean())
            if area == 0:
                continue
            p = sample_crop_params(1, load_hw, scale=(min_scale, 1.0), generator=g)
            xc = resized_crop(x, p, crop)
            mc = resized_crop(m, p, crop, mode="nearest")[0, 0] > 0.5
            x0, y0, x1, y1 = p.boxes[0].tolist()
            inside = float(m[0, 0, int(y0) : int(y1), int(x0) : int(x1)].sum()) / float(m.sum())
            fm = fame_mask(xc, beta=beta)[0, 0] > 0.5
            obj = float(mc.sum())
            recall = float((fm & mc).sum()) / obj if obj else float("nan")
            precision = float((fm & mc).sum()) / max(1.0, float(fm.sum()))
            rows.append((area, inside, float(inside < 0.1), recall, precision))
    if not rows:
        return None
    a = np.array(rows, dtype=np.float64)
    out = {"videos": len(rows), "object_area": float(a[:, 0].mean()), "crop_kept": float(a[:, 1].mean()),
           "crop_lost": float(a[:, 2].mean()), "fame_recall": float(np.nanmean(a[:, 3])),
           "fame_precision": float(a[:, 4].mean()), "beta": beta, "min_scale": min_scale}
    out["merged_scene"] = beta * (1.0 - out["fame_precision"])
    return out


def coverage_line(d: dict) -> str:
    """One Markdown line of :func:`object_coverage`'s figures."""
    return (f"object {100 * d['object_area']:.1f} % of the frame; a random crop (scale {d['min_scale']:g}-1) keeps "
            f"{100 * d['crop_kept']:.0f} % of it ({100 * d['crop_lost']:.0f} % of crops keep < 10 %); "
            f"FAME's beta {d['beta']:g} mask holds {100 * d['fame_recall']:.0f} % of the object, "
            f"{100 * d['fame_precision']:.0f} % of the mask is object, so {100 * d['merged_scene']:.0f} % of a "
            f"merged clip is still its own scene ({d['videos']} train videos)")
