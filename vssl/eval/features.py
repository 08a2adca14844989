"""Frozen clip features of a cache's videos, computed once and shared by the evaluation protocols.

Each video gives ``clips`` evenly spaced clips of ``clip_len`` frames (every
``stride``-th frame); frames are resized so the short side is ``resize`` and
centre-cropped to ``crop`` x ``crop`` (``crops = 3``: left / centre / right
crops along the long side, the usual 10-clip x 3-crop test), normalised and fed
to the backbone, which pools each clip to one vector. JPEG decoding runs in
DataLoader workers (:class:`vssl.data.clips.EvalClips`; each worker opens its own HDF5 handles, see
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

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vssl.data.clips import EvalClips, make_loader
from vssl.data.dataset import IMAGENET_MEAN, IMAGENET_STD, KINETICS_MEAN, KINETICS_STD
from vssl.errors import InputError
from vssl.ops.frames import frame_differences
from vssl.utils.progress import Progress

FEATURES_VERSION = 1
NORMALIZATIONS = ("auto", "kinetics", "imagenet", "none")
INPUTS = ("auto", "rgb", "diff")
_IMAGENET = (IMAGENET_MEAN, IMAGENET_STD)


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
    with Progress(desc, len(ds), enabled=rt.progress) as bar:
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
