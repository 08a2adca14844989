"""Checkpoints: written atomically, loadable with ``weights_only=True``, RNG states included.

A checkpoint (``RUN_DIR/checkpoints/last.pt``) is a dict:

=============  ==============================================================
key            content
=============  ==============================================================
model          the method's state dict (backbone, heads, momentum encoder, queue)
optimizer      ``torch.optim.SGD`` state dict
scheduler      LR scheduler state dict
scaler         ``torch.amp.GradScaler`` state dict (disabled with bf16 / fp32)
rng            python, numpy, torch CPU and CUDA generator states
step           optimiser steps done
epoch, pos     where the data order stands: global batch ``pos`` of ``epoch``
config         the resolved config (:func:`vssl.train.config.to_dict`)
vssl_version   the writer's version
=============  ==============================================================

Only tensors and plain Python values are stored, so ``torch.load(...,
weights_only=True)`` reads it (no pickled code).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import torch

from vssl.errors import CacheError

CKPT_DIR = "checkpoints"
LAST = "last.pt"


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / CKPT_DIR / LAST


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through :func:`vssl.utils.fs.atomic_torch_save`: never a half-written file."""
    from vssl.utils.fs import atomic_torch_save

    atomic_torch_save(path, state, "a checkpoint")


def load_checkpoint(path: Path) -> dict:
    """Load on the CPU with ``weights_only=True``; one-line CacheError when unreadable."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated or foreign file
        raise CacheError(f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None


def _version_tuple(v) -> tuple[int, ...] | None:
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", str(v)) if v is not None else None
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


def newer_than_this(version) -> bool:
    """Whether a recorded vssl version (``"0.2.0"``) is newer than the running one."""
    from vssl import __version__

    a, b = _version_tuple(version), _version_tuple(__version__)
    return a is not None and b is not None and a > b


RESUME_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "step", "epoch", "pos")


def load_training_checkpoint(path: Path, required: tuple[str, ...] = RESUME_KEYS) -> dict:
    """Load a checkpoint this loop wrote and check it before use: one line (CacheError, exit 3)
    when it is unreadable, not a vssl pretrain checkpoint, written by a newer vssl, or holds
    NaN / infinite weights."""
    from vssl import __version__

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise CacheError(f"checkpoint {path} is empty (0 bytes): delete it to start over from the last good state")
    ck = load_checkpoint(path)
    missing = [k for k in required if k not in ck] if isinstance(ck, dict) else list(required)
    if newer_than_this(ck.get("vssl_version") if isinstance(ck, dict) else None):
        raise CacheError(f"checkpoint {path} was written by vssl {ck['vssl_version']}, newer than this vssl "
                         f"{__version__}: upgrade vssl to use it")
    if missing:
        raise CacheError(f"{path} is not a vssl pretrain checkpoint (no '{missing[0]}'): move it away to start over, "
                         "or use another --out")
    model = ck["model"]
    if not isinstance(model, dict):
        raise CacheError(f"{path}: 'model' is not a state dict")
    bad = [k for k, v in model.items() if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel()
           and not bool(torch.isfinite(v).all())]
    if bad:
        raise CacheError(f"checkpoint {path} holds NaN or infinite weights in {len(bad)} tensors (e.g. '{bad[0]}'): "
                         "it cannot be resumed; move it away to start over")
    return ck


def rng_state() -> dict:
    """Every generator's state as tensors and ints (weights_only-safe)."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only when the device count matches)."""
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
