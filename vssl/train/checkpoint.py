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

import os
import random
from pathlib import Path

import numpy as np
import torch

from vssl.errors import CacheError

CKPT_DIR = "checkpoints"
LAST = "last.pt"


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / CKPT_DIR / LAST


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` to ``path.tmpPID``, fsync, then ``os.replace``: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """Load on the CPU with ``weights_only=True``; one-line CacheError when unreadable."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated or foreign file
        raise CacheError(f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None


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
