"""Frozen clip features of a cache's videos, computed once and shared by the evaluation protocols.

Each video gives ``clips`` evenly spaced clips of ``clip_len`` frames (every
``stride``-th frame); frames are resized so the short side is ``resize`` and
centre-cropped to ``crop`` x ``crop`` (``crops = 3``: left / centre / right
crops along the long side, the usual 10-clip x 3-crop test), normalised and fed
to the backbone, which pools each clip to one vector. JPEG decoding runs in
DataLoader workers (OpenCV; each worker opens its own HDF5 handles, see
:class:`vssl.io.cache.Cache`), inference in large batches without gradients,
in bf16 autocast on CUDA.

The features of one subset (``train`` / ``test``) are stored in
``EVAL_DIR/features/<subset>.npz`` with a key hashing everything they depend on
(the weights' fingerprint, the cache manifest's checksum, the split and the
feature options); ``vssl eval retrieval``, ``linear`` and ``knn`` on the same
EVAL_DIR therefore run the backbone once. Arrays in the file:

================  ==================  ==============================================
clip_feats        float32 (M, D)      one row per clip (and crop)
video_index       int64 (M,)          the clip's video, 0..V-1
clip_index        int64 (M,)          clip number within its video (crop-major: c * K + k)
video_ids         str (V,)            cache video ids
labels            int64 (V,)          class per video (-1 = none)
key               str ()              what the features depend on (hash)
================  ==================  ==============================================
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vssl.errors import CacheError, InputError
from vssl.ops.frames import frame_differences

FEATURES_VERSION = 1
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)  # torchvision's video models (Kinetics-400 RGB statistics)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
NORMALIZATIONS = ("auto", "kinetics", "imagenet", "none")
INPUTS = ("auto", "rgb", "diff")
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class FeatureOptions:
    """How clips are taken from a video (everything the features depend on, besides weights and data).

    Attributes:
        clips: clips per video, evenly spaced over the video (10 in the usual protocol).
        clip_len: frames per clip (16).
        stride: temporal stride between the frames of a clip (1).
        resize: short side after resizing (128).
        crop: side of the square crop fed to the network (112).
        crops: 1 = centre crop; 3 = left/top, centre, right/bottom crops along the long side.
        normalize: ``"kinetics"`` (torchvision video models), ``"imagenet"`` or ``"none"``
            (plain [0, 1]); must match what the backbone was pretrained with. ``"auto"``:
            what the run's config says (:func:`normalization_of_config`), else kinetics.
        input: ``"rgb"`` (the normalised frames) or ``"diff"`` (differences of consecutive
            normalised frames, T - 1 of them: a motion-only input, as the ``supervised``
            method's ``input=diff`` control trains with). ``"auto"``: what the run's config
            says (:func:`input_of_config`), else rgb.
    """

    clips: int = 10
    clip_len: int = 16
    stride: int = 1
    resize: int = 128
    crop: int = 112
    crops: int = 1
    normalize: str = "kinetics"
    input: str = "auto"

    def validate(self) -> None:
        for name in ("clips", "clip_len", "stride", "resize", "crop"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(self, name)})")
        if self.crop > self.resize:
            raise InputError(f"--size (crop {self.crop}) must not exceed --resize (short side {self.resize})")
        if self.crops not in (1, 3):
            raise InputError(f"crops must be 1 or 3 (got {self.crops})")
        if self.normalize not in NORMALIZATIONS:
            raise InputError(f"--normalize must be one of {', '.join(NORMALIZATIONS)} (got '{self.normalize}')")
        if self.input not in INPUTS:
            raise InputError(f"input must be one of {', '.join(INPUTS)} (got '{self.input}')")
        if self.input == "diff" and self.clip_len < 2:
            raise InputError("input 'diff' needs clips of at least 2 frames")

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        if self.normalize in ("kinetics", "auto"):
            return KINETICS_MEAN, KINETICS_STD
        if self.normalize == "imagenet":
            return _IMAGENET
        return None


def input_of_config(cfg: dict) -> str:
    """The network input a pretraining config records: ``data.input`` (every method), or the
    method section's ``input`` (the supervised control's own option): ``"rgb"`` or ``"diff"``,
    default ``"rgb"``."""
    data = cfg.get("data")
    if isinstance(data, dict) and data.get("input") == "diff":
        return "diff"
    method = cfg.get("method")
    section = cfg.get(method) if isinstance(method, str) else None
    v = section.get("input") if isinstance(section, dict) else None
    return v if v in ("rgb", "diff") else "rgb"


def normalization_of_config(cfg: dict) -> str:
    """The input normalisation a pretraining config records, as a :data:`NORMALIZATIONS` name.

    Looks for ``normalize`` (a name, or false / "none") or ``mean`` at the top
    level and under the method's section (e.g. ``cmd.normalize``), ``data`` / ``augment`` / ``transforms``; a ``mean`` list is
    matched against the known statistics. Default ``"kinetics"``.
    """
    method = cfg.get("method")
    own = (method,) if isinstance(method, str) else ()
    for scope in (cfg, *(cfg.get(k) for k in (*own, "data", "augment", "augmentation", "transforms"))):
        if not isinstance(scope, dict):
            continue
        v = scope.get("normalize", scope.get("normalization"))
        if v is False or (isinstance(v, str) and v.lower() in ("none", "false", "off")):
            return "none"
        if isinstance(v, str) and v.lower() in NORMALIZATIONS:
            return v.lower()
        mean = scope.get("mean")
        if mean is None and isinstance(v, dict):
            mean = v.get("mean")
        if isinstance(mean, (list, tuple)) and len(mean) == 3:
            for name, (m, _) in (("kinetics", (KINETICS_MEAN, KINETICS_STD)), ("imagenet", _IMAGENET)):
                if all(abs(float(a) - b) < 1e-3 for a, b in zip(mean, m)):
                    return name
    return "kinetics"


@dataclass
class Runtime:
    """How features are computed (results do not depend on it, up to bf16 rounding on CUDA)."""

    batch_size: int = 64
    workers: int = 4
    device: str | None = None  # default: cuda when available
    amp: bool = True  # bf16 autocast on CUDA
    progress: bool = True

    def torch_device(self) -> torch.device:
        if self.device:
            try:
                dev = torch.device(self.device)
            except RuntimeError:
                raise InputError(f"--device '{self.device}' is not a torch device (cpu, cuda, cuda:1)") from None
            if dev.type == "cuda" and not torch.cuda.is_available():
                raise InputError(f"--device {self.device}: CUDA is not available on this machine")
            return dev
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class FeatureSet:
    """Clip features of the videos of one subset (see the module docstring for the arrays)."""

    clip_feats: np.ndarray
    video_index: np.ndarray
    clip_index: np.ndarray
    video_ids: list[str]
    labels: np.ndarray
    key: str = ""
    seconds: float = 0.0
    cached: bool = False

    @property
    def n_videos(self) -> int:
        return len(self.video_ids)

    @property
    def clip_labels(self) -> np.ndarray:
        return self.labels[self.video_index]

    def video_feats(self) -> np.ndarray:
        """(V, D) float32: the mean of each video's clip features (not normalised)."""
        return video_mean(self.clip_feats, self.video_index, self.n_videos)


def video_mean(clip_feats: np.ndarray, video_index: np.ndarray, n_videos: int) -> np.ndarray:
    """Mean of the rows of ``clip_feats`` (M, D) per video (``video_index`` (M,) in 0..V-1) -> (V, D)."""
    x = torch.as_tensor(np.asarray(clip_feats, np.float32))
    v = torch.as_tensor(np.asarray(video_index, np.int64))
    out = torch.zeros(n_videos, x.shape[1]).index_add_(0, v, x)
    counts = torch.bincount(v, minlength=n_videos).clamp_min(1)
    return (out / counts[:, None]).numpy()


# --------------------------------------------------------------------------- clips


def clip_starts(n_frames: int, span: int, n: int) -> np.ndarray:
    """``n`` evenly spaced clip starts in ``[0, n_frames - span]`` (int64).

    One clip is centred; a video shorter than the clip gets start 0 (its last
    frame is repeated, :func:`vssl.data.sampling.clip_indices`).
    """
    hi = max(0, int(n_frames) - int(span))
    if n == 1:
        return np.array([hi // 2], np.int64)
    return np.rint(np.linspace(0, hi, n)).astype(np.int64)


def clip_frame_indices(t0: int, clip_len: int, stride: int, n_frames: int) -> np.ndarray:
    t = int(t0) + int(stride) * np.arange(clip_len, dtype=np.int64)
    return np.clip(t, 0, max(0, n_frames - 1))


def resize_short(img: np.ndarray, short: int) -> np.ndarray:
    """Resize (H, W, C) so that min(H, W) == ``short`` (area filter when shrinking)."""
    import cv2

    h, w = img.shape[:2]
    if min(h, w) == short:
        return img
    s = short / min(h, w)
    nh, nw = max(short, int(round(h * s))), max(short, int(round(w * s)))
    out = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out if out.ndim == img.ndim else out[..., None]


def decode_clip(jpegs, fn=None) -> np.ndarray:
    """JPEG byte arrays -> uint8 (T, H, W, 3) RGB, ``fn`` applied to each decoded frame first.

    Frames stay BGR (contiguous) through ``fn`` and are converted to RGB after it
    with ``cv2.cvtColor``: OpenCV is several times slower on the negative-stride
    view a ``[..., ::-1]`` gives, and numpy's copy of such a view is slower still.
    """
    import cv2

    from vssl.errors import CacheError

    out = []
    for b in jpegs:
        img = cv2.imdecode(np.frombuffer(b, np.uint8) if isinstance(b, (bytes, bytearray)) else b, cv2.IMREAD_COLOR)
        if img is None:
            raise CacheError("a stored JPEG does not decode (run `vssl verify`)")
        out.append(cv2.cvtColor(fn(img) if fn is not None else img, cv2.COLOR_BGR2RGB))
    return np.stack(out)


def crop_offsets(h: int, w: int, crop: int, crops: int) -> list[tuple[int, int]]:
    """(top, left) of the ``crops`` (1 or 3) square crops of side ``crop`` in an (h, w) frame."""
    cy, cx = (h - crop) // 2, (w - crop) // 2
    if crops == 1:
        return [(cy, cx)]
    if w >= h:
        return [(cy, 0), (cy, cx), (cy, w - crop)]
    return [(0, cx), (cy, cx), (h - crop, cx)]


def spatial_crops(frames: np.ndarray, crop: int, crops: int) -> np.ndarray:
    """(T, H, W, C) -> (crops, T, crop, crop, C)."""
    _, h, w, _ = frames.shape
    return np.stack([frames[:, y:y + crop, x:x + crop] for y, x in crop_offsets(h, w, crop, crops)])


class EvalClips(torch.utils.data.Dataset):
    """Item ``i`` = clip ``i % clips`` of video ``i // clips``, as uint8 ``(crops, T, crop, crop, 3)``.

    Items: ``{"clip": uint8 array, "video": int, "clip_index": int}``.
    """

    def __init__(self, cache_root: str | Path, video_ids: Sequence[str], opts: FeatureOptions):
        from vssl.io.cache import Cache

        opts.validate()
        self.cache = Cache(cache_root)
        if not self.cache.options.get("frames", True):
            raise CacheError(f"cache {cache_root} has no frames (extracted with --no-frames): evaluation needs them")
        self.videos = [self.cache.video(v) for v in video_ids]
        self.opts = opts
        self.span = (opts.clip_len - 1) * opts.stride + 1
        self.starts = [clip_starts(v.n_frames, self.span, opts.clips) for v in self.videos]

    def __len__(self) -> int:
        return len(self.videos) * self.opts.clips

    def frames(self, vi: int, t0: int) -> np.ndarray:
        """uint8 (T, H', W', 3) RGB of the clip starting at ``t0``, short side resized."""
        v, o = self.videos[vi], self.opts
        t = clip_frame_indices(t0, o.clip_len, o.stride, v.n_frames)
        return decode_clip(self.cache.read_frames_jpeg(v.id, t), lambda im: resize_short(im, o.resize))

    def __getitem__(self, i: int) -> dict[str, Any]:
        vi, ci = divmod(int(i), self.opts.clips)
        with self.cache.reading(self.videos[vi].id):  # one line naming video, shard and `vssl verify`
            fr = self.frames(vi, int(self.starts[vi][ci]))
        return {"clip": spatial_crops(fr, self.opts.crop, self.opts.crops), "video": vi, "clip_index": ci}


def to_model_input(clips_u8: Tensor, mean_std, device: torch.device, input: str = "rgb") -> Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) on ``device``, in [0, 1] then normalised;
    ``input="diff"``: the T - 1 differences of consecutive normalised frames."""
    x = clips_u8.to(device, non_blocking=True).permute(0, 4, 1, 2, 3).float().div_(255.0)
    if mean_std is not None:
        m = torch.tensor(mean_std[0], device=device).view(1, 3, 1, 1, 1)
        s = torch.tensor(mean_std[1], device=device).view(1, 3, 1, 1, 1)
        x = (x - m) / s
    if input == "diff":
        x = frame_differences(x)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    model = model.to(device).eval()
    if device.type == "cuda":
        from vssl.models import to_channels_last_3d

        to_channels_last_3d(model)
    return model


def make_loader(ds: torch.utils.data.Dataset, batch_size: int, workers: int, device: torch.device,
                shuffle: bool = False, batch_sampler=None) -> torch.utils.data.DataLoader:
    from vssl.signals import ignore_stop_signals

    kw: dict[str, Any] = {}
    if workers > 0:  # stop signals are the main process's (finetune finishes its step and saves)
        kw.update(prefetch_factor=4, persistent_workers=False, worker_init_fn=ignore_stop_signals)
    if batch_sampler is not None:
        return torch.utils.data.DataLoader(ds, batch_sampler=batch_sampler, num_workers=workers,
                                           pin_memory=device.type == "cuda", **kw)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                       pin_memory=device.type == "cuda", drop_last=False, **kw)


class Progress:
    """A rich progress bar over ``total`` items (a no-op when disabled)."""

    def __init__(self, desc: str, total: int, enabled: bool = True):
        self.bar = None
        if enabled and total > 0:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TimeElapsedColumn, \
                TimeRemainingColumn

            self.bar = RichProgress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                                    transient=True)
            self.task = self.bar.add_task(desc, total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA (when ``enabled``), a no-op elsewhere."""
    import contextlib

    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def compute_features(model: nn.Module, cache_root: str | Path, video_ids: Sequence[str], labels: Sequence[int],
                     opts: FeatureOptions, runtime: Runtime | None = None, *, desc: str = "features") -> FeatureSet:
    """Run the backbone over every clip (and crop) of ``video_ids``.

    Returns:
        A :class:`FeatureSet` (features float32 on the CPU, in video order, clips
        in order within a video, crops within a clip).
    """
    rt = runtime or Runtime()
    if rt.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1 (got {rt.batch_size})")
    if rt.workers < 0:
        raise InputError(f"--workers must be >= 0 (got {rt.workers})")
    dev = rt.torch_device()
    ds = EvalClips(cache_root, video_ids, opts)
    per_batch = max(1, rt.batch_size // opts.crops)  # loader items hold `crops` clips each
    loader = make_loader(ds, per_batch, rt.workers, dev)
    model = prepare_model(model, dev)
    t0 = time.perf_counter()
    with Progress(desc, len(ds), rt.progress) as bar:
        fs = embed_clips(model, loader, video_ids, labels, opts, dev, amp=rt.amp, advance=bar.advance)
    fs.seconds = time.perf_counter() - t0
    return fs


def embed_clips(model: nn.Module, batches, video_ids: Sequence[str], labels: Sequence[int], opts: FeatureOptions,
                device: torch.device, *, amp: bool = True, advance=None) -> FeatureSet:
    """Features of collated :class:`EvalClips` batches (``{"clip": uint8 (B, crops, T, S, S, 3),
    "video", "clip_index"}``) with ``model`` as it is (no mode change, no gradient bookkeeping of its
    own: the caller chooses ``torch.inference_mode`` or ``torch.no_grad``). :func:`compute_features`
    and the pretraining kNN monitor (:mod:`vssl.train.monitor`) share it.

    Raises:
        InputError: NaN or infinite features.
    """
    k = opts.crops
    ms = opts.mean_std
    feats, vids, cidx = [], [], []
    for batch in batches:
        clip = batch["clip"]  # (B, K, T, S, S, 3)
        b = clip.shape[0]
        x = to_model_input(clip.reshape(b * k, *clip.shape[2:]), ms, device, opts.input)
        with autocast(device, amp):
            f = model(x)
        feats.append(f.float().cpu())
        vids.append(batch["video"].repeat_interleave(k))
        cidx.append((batch["clip_index"][:, None] * k + torch.arange(k)).reshape(-1))
        if advance is not None:
            advance(b)
    if feats:
        clip_feats = torch.cat(feats).numpy()
    else:
        clip_feats = np.zeros((0, getattr(model, "feat_dim", 0)), np.float32)
    if not np.isfinite(clip_feats).all():
        raise InputError("the backbone produced NaN or infinite features (broken checkpoint?)")
    return FeatureSet(
        clip_feats=clip_feats.astype(np.float32, copy=False),
        video_index=torch.cat(vids).numpy().astype(np.int64) if vids else np.zeros(0, np.int64),
        clip_index=torch.cat(cidx).numpy().astype(np.int64) if cidx else np.zeros(0, np.int64),
        video_ids=list(video_ids),
        labels=np.asarray([-1 if l is None else int(l) for l in labels], np.int64),
    )


# --------------------------------------------------------------------------- on disk


def features_key(fingerprint: str, cache_checksum: str, split: str, subset: str, opts: FeatureOptions,
                 video_ids: Sequence[str]) -> str:
    """Hash of everything a feature file depends on."""
    payload = json.dumps({
        "v": FEATURES_VERSION, "weights": fingerprint, "cache": cache_checksum, "split": str(split),
        "subset": subset, "opts": asdict(opts),
        "videos": hashlib.blake2b("\n".join(video_ids).encode(), digest_size=8).hexdigest(),
    }, sort_keys=True)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def save_features(path: Path, fs: FeatureSet) -> None:
    """Write ``fs`` to ``path`` (.npz) atomically."""
    from vssl.io.space import MB, atomic_write, ensure_free

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_free(path.parent, fs.clip_feats.nbytes + MB, "the feature cache", "the features are not cached")
    atomic_write(path, lambda f: np.savez(
        f, clip_feats=fs.clip_feats, video_index=fs.video_index, clip_index=fs.clip_index,
        video_ids=np.asarray(fs.video_ids, dtype=str), labels=fs.labels, key=np.asarray(fs.key),
        seconds=np.float64(fs.seconds)), kept="the features are not cached")


def load_features(path: Path) -> FeatureSet | None:
    """The feature file at ``path``, or None when missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return FeatureSet(clip_feats=z["clip_feats"], video_index=z["video_index"], clip_index=z["clip_index"],
                              video_ids=[str(s) for s in z["video_ids"]], labels=z["labels"], key=str(z["key"]),
                              seconds=float(z["seconds"]), cached=True)
    except (OSError, KeyError, ValueError, EOFError):
        return None


# --------------------------------------------------------------------------- one evaluation


@dataclass
class EvalConfig:
    """What every ``vssl eval`` command shares: the weights, the data and the clips."""

    cache: Path
    out: Path
    checkpoint: Path | None = None
    backbone: str | None = None
    random_init: bool = False
    seed: int = 0
    split: str = "1"
    features: FeatureOptions = field(default_factory=FeatureOptions)
    runtime: Runtime = field(default_factory=Runtime)
    force: bool = False


class EvalSession:
    """Loaded weights and data of one evaluation; features computed lazily, cached under ``out``.

    Raises (on construction):
        CacheError: the cache is missing (exit 3).
        InputError: no such split, bad options, weights of another backbone (exit 2).
    """

    def __init__(self, cfg: EvalConfig):
        from vssl.eval.checkpoints import load_backbone
        from vssl.io.cache import Cache
        from vssl.io.manifest import manifest_checksum

        cfg.features.validate()
        self.cfg = cfg
        self._locks = contextlib.ExitStack()
        self.cache = Cache(cfg.cache)  # CacheError first: a missing cache is exit 3 whatever else is wrong
        self._lock(cfg)
        self.cache_checksum = manifest_checksum(cfg.cache)
        self.split = str(cfg.split)
        self.cache.split(self.split, "train")  # raises InputError when the split does not exist
        self.model, self.meta = load_backbone(cfg.checkpoint, cfg.backbone, random_init=cfg.random_init,
                                              seed=cfg.seed)
        if cfg.features.normalize == "auto":
            cfg.features = replace(cfg.features, normalize=normalization_of_config(self.meta.get("config") or {}))
        if cfg.features.input == "auto":
            cfg.features = replace(cfg.features, input=input_of_config(self.meta.get("config") or {}))
        self.out = Path(cfg.out)
        check_eval_dir(self.out, self.header(), cfg.force)
        self._sets: dict[tuple[str, FeatureOptions], FeatureSet] = {}

    def _lock(self, cfg: EvalConfig) -> None:
        """A reader's lock on the cache and the eval directory's writer lock, held until :meth:`close`
        (a second eval into the same directory is refused, naming this one)."""
        from vssl.io.lock import dir_lock

        try:
            self._locks.enter_context(dir_lock(cfg.cache, "vssl eval", shared=True, create=False))
            self._locks.enter_context(dir_lock(cfg.out, "vssl eval"))
        except BaseException:
            self._locks.close()
            raise

    def close(self) -> None:
        """Let go of the locks (also when the session is garbage collected or the process ends)."""
        self._locks.close()

    def __del__(self):
        locks = getattr(self, "_locks", None)
        if locks is not None:
            locks.close()

    @property
    def class_names(self) -> list[str]:
        names = list(self.cache.classes)
        n = self.cache.num_classes
        return names + [str(i) for i in range(len(names), n)]

    def videos(self, subset: str, *, labelled: bool = True):
        vids = self.cache.split(self.split, subset)
        if not vids:
            role = "query (test)" if subset == "test" else "gallery/training (train)"
            raise InputError(f"split {self.split} of {self.cache.root} has no {subset} videos: empty {role} set")
        if labelled:
            bad = [v.id for v in vids if v.label is None]
            if bad:
                raise InputError(f"{len(bad)} {subset} videos of split {self.split} have no label (e.g. '{bad[0]}')")
        return vids

    def require(self, *subsets: str) -> None:
        """Fail now (one line, exit 2) if a subset the protocol needs is empty or unlabelled."""
        for sub in subsets:
            self.videos(sub)

    def features(self, subset: str, opts: FeatureOptions | None = None) -> FeatureSet:
        """Clip features of ``subset`` (``train`` / ``test``) with ``opts`` (default: the config's)."""
        opts = opts or self.cfg.features
        got = self._sets.get((subset, opts))
        if got is not None:
            return got
        vids = self.videos(subset)
        ids = [v.id for v in vids]
        key = features_key(self.meta["fingerprint"], self.cache_checksum, self.split, subset, opts, ids)
        name = subset if opts == self.cfg.features else f"{subset}-{key[:8]}"
        path = self.out / "features" / f"{name}.npz"
        fs = load_features(path) if path.exists() else None
        if fs is None or fs.key != key:
            fs = compute_features(self.model, self.cache.root, ids, [v.label for v in vids], opts, self.cfg.runtime,
                                  desc=f"{subset} features")
            fs.key = key
            save_features(path, fs)
        self._sets[(subset, opts)] = fs
        return fs

    def header(self) -> dict[str, Any]:
        """What every result of this session depends on (stored at the top of metrics.json)."""
        return {
            "checkpoint": self.meta,
            "cache": {"root": str(Path(self.cache.root).resolve()), "checksum": self.cache_checksum,
                      "input": self.cache.manifest.get("input"), "split": self.split,
                      "classes": len(self.class_names)},
        }


METRICS_FILE = "metrics.json"
METRICS_CSV = "metrics.csv"
EVAL_FORMAT = "vssl-eval"


def read_metrics(out: Path) -> dict | None:
    """The ``metrics.json`` of an eval directory, or None."""
    p = Path(out) / METRICS_FILE
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{p} is not readable JSON (delete it or use another --out)") from None
    return doc if isinstance(doc, dict) and doc.get("format") == EVAL_FORMAT else None


def check_eval_dir(out: Path, header: dict, force: bool) -> None:
    """Refuse to mix results of other weights or another cache in one eval directory (unless ``force``,
    which drops the old results and features)."""
    import shutil

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    doc = read_metrics(out)
    if doc is None:
        return
    old_w = (doc.get("checkpoint") or {}).get("fingerprint")
    old_c = (doc.get("cache") or {}).get("checksum")
    old_s = (doc.get("cache") or {}).get("split")
    new_w, new_c, new_s = header["checkpoint"]["fingerprint"], header["cache"]["checksum"], header["cache"]["split"]
    if (old_w, old_c, old_s) == (new_w, new_c, new_s):
        return
    what = "weights" if old_w != new_w else ("cache" if old_c != new_c else "split")
    if not force:
        src = (doc.get("checkpoint") or {}).get("path") or "random init"
        raise InputError(f"{out} holds results of other {what} ({src}); "
                         "use another --out, or --force to replace them")
    (out / METRICS_FILE).unlink(missing_ok=True)
    (out / METRICS_CSV).unlink(missing_ok=True)
    shutil.rmtree(out / "features", ignore_errors=True)


def with_crops(opts: FeatureOptions, crops: int, clips: int | None = None) -> FeatureOptions:
    return replace(opts, crops=crops, clips=opts.clips if clips is None else clips)


CLIP_DEFAULTS = {"clips": 10, "clip_len": 16, "stride": 1, "resize": 128, "size": 112}


def run_clip_options(checkpoint: str | Path | None) -> dict[str, Any]:
    """The clip options a pretraining run trained with (``clip_len``, ``stride``, ``resize`` = the
    short side of ``data.load_size``, ``size`` = the method's ``crop``), from the ``config.yaml`` of a
    run directory or of the run a checkpoint file lies in; {} for exported files and random init."""
    from vssl.eval.checkpoints import read_run_config

    if checkpoint is None:
        return {}
    p = Path(checkpoint)
    cfg = {}
    for d in ([p] if p.is_dir() else []) + [p.parent, p.parent.parent]:
        cfg = read_run_config(d) if d.is_dir() else {}
        if cfg:
            break
    return config_clip_options(cfg)


def config_clip_options(cfg: dict) -> dict[str, Any]:
    """:func:`run_clip_options` of a config as a dict (a run's ``config.yaml``, or
    :func:`vssl.train.config.to_dict` of a live run: the pretraining kNN monitor's clips)."""
    out: dict[str, Any] = {}
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    for k in ("clip_len", "stride"):
        if isinstance(data.get(k), int):
            out[k] = data[k]
    ls = data.get("load_size")
    if isinstance(ls, (list, tuple)) and len(ls) == 2 and all(isinstance(v, int) for v in ls):
        out["resize"] = min(ls)
    method = cfg.get("method")
    params = cfg.get(method) if isinstance(method, str) and isinstance(cfg.get(method), dict) else {}
    if isinstance(params.get("crop"), int):
        out["size"] = params["crop"]
    return out


def clip_options(checkpoint, preset: str | None, *, random_init: bool = False, **given) -> dict[str, Any]:
    """Resolve ``vssl eval``'s clip options: a given value (not None) > the preset's > the run's
    (:func:`run_clip_options`) > :data:`CLIP_DEFAULTS`. ``backbone``: given > the preset's (random
    init only; a run's backbone comes from its config) > None."""
    from vssl.train.presets import eval_options

    pre = eval_options(preset) if preset else {}
    run = run_clip_options(None if random_init else checkpoint)
    out: dict[str, Any] = {}
    for k, default in CLIP_DEFAULTS.items():
        v = given.get(k)
        out[k] = v if v is not None else pre.get(k, run.get(k, default))
    b = given.get("backbone")
    out["backbone"] = b if b is not None else (pre.get("backbone") if random_init else None)
    if out["size"] > out["resize"] and given.get("resize") is None and given.get("size") is not None:
        out["resize"] = out["size"]
    return out
