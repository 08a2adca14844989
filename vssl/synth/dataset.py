"""The dataset: :func:`make_synth` (layout, splits, bias regimes, ground truth, ``synth.json``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from vssl.synth.encode import encode_h264, save_npz_deterministic, x264_params
from vssl.synth.motion import _motion, camera_margin, camera_path
from vssl.synth.render import render_video
from vssl.synth.spec import (
    BACKGROUND_FAMILIES,
    CAMERA_MOTIONS,
    CLASS_NAMES,
    DEFAULT_CRF,
    DEFAULT_PRESET,
    GROUNDTRUTH_DIR,
    MAX_CLASSES,
    META_FILE,
    MIN_SIDE,
    SYNTH_VERSION,
)
from vssl.synth.textures import make_background
from vssl.utils.fs import atomic_write_bytes


def _check_args(
    classes, videos_per_class, size, frames, fps, gop, bframes, test_fraction, seed
) -> tuple[int, int]:
    """Validate :func:`make_synth`'s arguments; return (width, height). Raises ValueError."""

    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(classes) or not 2 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be an integer from 2 to {MAX_CLASSES}, got {classes!r}")
    if not is_int(videos_per_class) or videos_per_class < 1:
        raise ValueError(f"videos_per_class must be a positive integer, got {videos_per_class!r}")
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ValueError(f"size must be at least {MIN_SIDE}x{MIN_SIDE}, got {w}x{h}")
    if w % 2 or h % 2:
        raise ValueError(f"size must have an even width and height (libx264, yuv420p), got {w}x{h}")
    if not is_int(frames) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    if not is_int(fps) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    if not is_int(gop) or gop < 1:
        raise ValueError(f"gop must be a positive integer, got {gop!r}")
    if not is_int(bframes) or not 0 <= bframes <= 16:
        raise ValueError(f"bframes must be an integer from 0 to 16, got {bframes!r}")
    try:
        tf_ok = 0.0 <= float(test_fraction) < 1.0
    except (TypeError, ValueError):
        tf_ok = False
    if not tf_ok:
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return w, h


BIAS_REGIMES = ("class", "none")


def check_bias(bias, bias_strength) -> None:
    """ValueError (one line) unless ``bias`` is a regime and ``bias_strength`` a probability."""
    if bias not in BIAS_REGIMES:
        raise ValueError(f"bias must be one of {', '.join(BIAS_REGIMES)}, got {bias!r}")
    try:
        ok = 0.0 <= float(bias_strength) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"bias_strength must be a number in [0, 1], got {bias_strength!r}")
    if bias == "none" and float(bias_strength) != 1.0:
        raise ValueError("bias_strength applies to bias 'class' only (with 'none' the background is independent)")


def background_family(c: int, split: str, classes: int, bias: str, strength: float, rng: np.random.Generator) -> int:
    """The background family of a video of class ``c`` in ``split`` (see the module docstring)."""
    if bias == "none":
        return int(rng.integers(classes))
    if split == "test":  # any family but the class's own
        return (c + 1 + int(rng.integers(classes - 1))) % classes
    if strength >= 1.0 or rng.random() < strength:
        return c
    return (c + 1 + int(rng.integers(classes - 1))) % classes


def n_test_videos(videos_per_class: int, test_fraction: float) -> int:
    """How many of a class's videos go to test: round(v * f), at least 1 if f > 0, at most v - 1."""
    n = int(round(videos_per_class * test_fraction))
    if test_fraction > 0:
        n = max(n, 1)
    return max(0, min(n, videos_per_class - 1))


def video_stem(class_name: str, background_family: int, index: int) -> str:
    """``v_<Class>_g<BB>_c<CC>``: BB = background family + 1, CC = video index + 1 (2+ digits)."""
    return f"v_{class_name}_g{background_family + 1:02d}_c{index + 1:02d}"


def make_synth(
    out: Path,
    *,
    classes: int = 6,
    videos_per_class: int = 12,
    size: tuple[int, int] = (160, 120),
    frames: int = 64,
    seed: int = 0,
    fps: int = 25,
    gop: int = 12,
    bframes: int = 2,
    test_fraction: float = 1 / 3,
    bias: str = "class",
    bias_strength: float = 1.0,
    camera: str = "static",
    progress: bool = True,
) -> dict:
    """Write the synthetic scene-bias dataset to ``out`` (see the module docstring).

    Video ``i`` of class ``c`` is generated from ``np.random.default_rng([seed, c, i])`` (and
    ``[seed, c, i, 1]``, ``[seed, c, i, 2]``, ``[seed, c, i, 3]`` for its background family,
    image and camera path)
    alone, so one video does not depend on the others or on ``classes``. Its last
    ``n_test_videos(videos_per_class, test_fraction)`` videos per class are the test split.
    Existing files of the same names are replaced; other files in ``out`` are left alone.

    Args:
        out: dataset root (created if missing).
        classes: number of motion classes, 2 to 8 (the first ``classes`` of :data:`CLASS_NAMES`).
        videos_per_class: videos per class (train + test).
        size: (width, height), both even and >= 32.
        frames: frames per video (>= 2).
        seed: random seed; the same seed gives byte-identical files.
        fps: constant frame rate of the mp4s.
        gop: keyframe interval.
        bframes: B-frames between anchors (0 = I/P only).
        test_fraction: share of each class's videos in the test split, in [0, 1).
        bias: ``"class"`` (train background family follows the class, test families are
            another class's) or ``"none"`` (family independent of the class everywhere).
        bias_strength: ``"class"`` only: probability that a train video wears its
            class's family (1 = always; 1 / classes = no more than chance).
        camera: ``"static"`` (default) or ``"pan"``: the camera pans over a background larger
            than the frame (1-2 px/frame along x, 0-1 along y, reflecting at its edges), so the
            scene moves too and frame differences show its texture; the objects' motion is
            drawn in frame coordinates as with a static camera.
        progress: show progress (:class:`vssl.utils.progress.Progress`: a bar on a terminal, else plain lines).

    Returns:
        Summary dict: ``root``, ``classes`` (names), ``background_families`` (names),
        ``n_videos``, ``n_train``, ``n_test``, ``class_index``, ``trainlist``, ``testlist``,
        ``groundtruth`` and ``meta`` (absolute paths as str), ``seconds`` (wall time).

    Raises:
        ValueError: on a bad argument (e.g. classes outside 2..8, an odd width or height).
    """
    w, h = _check_args(classes, videos_per_class, size, frames, fps, gop, bframes, test_fraction, seed)
    check_bias(bias, bias_strength)
    if camera not in CAMERA_MOTIONS:
        raise ValueError(f"camera must be one of {', '.join(CAMERA_MOTIONS)}, got {camera!r}")
    bias_strength = float(bias_strength)
    classes, videos_per_class, frames = int(classes), int(videos_per_class), int(frames)
    fps, gop, bframes, seed = int(fps), int(gop), int(bframes), int(seed)
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(CLASS_NAMES[:classes])
    families = list(BACKGROUND_FAMILIES[:classes])
    n_test = n_test_videos(videos_per_class, test_fraction)
    jobs = [(c, i) for c in range(classes) for i in range(videos_per_class)]

    records: list[dict] = []
    from vssl.utils.progress import Progress

    bar = Progress("synth videos", len(jobs), enabled=progress, transient=False)
    try:
        for c, i in jobs:
            rng = np.random.default_rng([seed, c, i])
            split = "test" if i >= videos_per_class - n_test else "train"
            fam = background_family(c, split, classes, bias, bias_strength, np.random.default_rng([seed, c, i, 1]))
            stem = video_stem(names[c], fam, i)
            rel = f"{names[c]}/{stem}.mp4"
            gt_rel = f"{GROUNDTRUTH_DIR}/{names[c]}/{stem}.npz"
            tracks = _motion(c, rng, w, h, frames)
            m = camera_margin(w, h) if camera == "pan" else 0  # a panning camera sees a larger background
            background = make_background(fam, np.random.default_rng([seed, c, i, 2]), w + 2 * m, h + 2 * m)
            path = camera_path(np.random.default_rng([seed, c, i, 3]), m, frames) if m else None
            video, masks, boxes = render_video(background, tracks, camera=path, size=(w, h))
            # the background's on-screen motion, t-1 -> t (row 0 = 0)
            cam_gt = {} if path is None else {
                "scene_velocity": -np.diff(path, axis=0, prepend=path[:1]).astype(np.float32)}
            (out / names[c]).mkdir(exist_ok=True)
            (out / GROUNDTRUTH_DIR / names[c]).mkdir(parents=True, exist_ok=True)
            encode_h264(video, out / rel, fps=fps, gop=gop, bframes=bframes)
            centres = np.stack([tr.centre for tr in tracks], 1)  # (T, N, 2)
            velocity = np.zeros_like(centres)
            velocity[1:] = centres[1:] - centres[:-1]
            save_npz_deterministic(
                out / gt_rel,
                masks=masks,
                velocity=velocity.astype(np.float32),
                translating=np.array([tr.translating for tr in tracks], bool),
                boxes=boxes,
                centres=centres.astype(np.float32),
                angle=np.stack([tr.angle for tr in tracks], 1).astype(np.float32),
                scale=np.stack([tr.scale for tr in tracks], 1).astype(np.float32),
                label=np.int64(c),
                background_family=np.int64(fam),
                **cam_gt,
            )
            records.append(
                {
                    "path": rel,
                    "class": names[c],
                    "label": c,
                    "background_family": fam,
                    "background_name": families[fam],
                    "split": split,
                    "groundtruth": gt_rel,
                    "n_objects": len(tracks),
                    "translating": [tr.translating for tr in tracks],
                    "objects": [{"texture": tr.sprite.texture, "shape": tr.sprite.shape} for tr in tracks],
                }
            )
            bar.advance()
    finally:
        bar.close()

    class_ind = out / "classInd.txt"
    trainlist = out / "trainlist01.txt"
    testlist = out / "testlist01.txt"
    atomic_write_bytes(class_ind, "".join(f"{k + 1} {n}\n" for k, n in enumerate(names)).encode())
    train_lines = [f"{r['path']} {r['label'] + 1}\n" for r in records if r["split"] == "train"]
    atomic_write_bytes(trainlist, "".join(train_lines).encode())
    atomic_write_bytes(testlist, "".join(f"{r['path']}\n" for r in records if r["split"] == "test").encode())
    meta = {
        "format": "vssl-synth",
        "version": SYNTH_VERSION,
        "params": {
            "classes": classes,
            "videos_per_class": videos_per_class,
            "size": [w, h],
            "frames": frames,
            "seed": seed,
            "fps": fps,
            "gop": gop,
            "bframes": bframes,
            "test_fraction": float(test_fraction),
            "bias": bias,
            "bias_strength": bias_strength,
            "camera": camera,
            "codec": "libx264",
            "pix_fmt": "yuv420p",
            "crf": DEFAULT_CRF,
            "preset": DEFAULT_PRESET,
            "x264_params": x264_params(gop, bframes),
        },
        "class_names": names,
        "background_families": families,
        "videos": records,
    }
    meta_path = out / META_FILE
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1).encode("utf-8"))
    n_tr = sum(r["split"] == "train" for r in records)
    return {
        "root": str(out.resolve()),
        "classes": names,
        "background_families": families,
        "n_videos": len(records),
        "n_train": n_tr,
        "n_test": len(records) - n_tr,
        "class_index": str(class_ind.resolve()),
        "trainlist": str(trainlist.resolve()),
        "testlist": str(testlist.resolve()),
        "groundtruth": str((out / GROUNDTRUTH_DIR).resolve()),
        "meta": str(meta_path.resolve()),
        "seconds": round(time.perf_counter() - t0, 3),
    }
