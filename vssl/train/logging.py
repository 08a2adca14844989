"""Training logs: ``metrics.jsonl`` (one JSON object per logged step), TensorBoard scalars,
optionally Weights & Biases, and the text of the progress line (step, clips/s, loss, lr, data-wait %, ETA;
:class:`vssl.utils.progress.Progress`).

W&B (``run.wandb``): the run is named after the run directory, its files go to ``RUN_DIR/wandb``,
its id is kept in ``RUN_DIR/wandb_id`` so that a resumed run continues the same W&B run, and
``WANDB_MODE=offline`` logs without network (``wandb sync RUN_DIR/wandb/offline-run-*`` later).

Only rank 0 logs. ``metrics.jsonl`` is appended to on resume (records after the checkpoint the run
resumed from are dropped first, so it reads as one uninterrupted run); a record::

    {"step": 120, "epoch": 3, "loss": 4.21, "lr": 0.0029, "clips_per_s": 512.3,
     "data_wait": 0.04, "time": 1719400000.1, "acc": 0.31, ...}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

METRICS = "metrics.jsonl"
TB_DIR = "tb"
WANDB_ID = "wandb_id"


class MetricsLogger:
    """Writes metrics records and scalars; a no-op when ``enabled`` is False (ranks > 0)."""

    def __init__(self, run_dir: Path, *, enabled: bool = True, tensorboard: bool = True, start_step: int = 0,
                 wandb: dict | None = None):
        """``start_step``: records of later steps (logged before a crash, redone after the
        resume from a checkpoint at ``start_step``) are dropped, so the file reads as one run.
        ``wandb``: ``{"project": ..., "config": {...}}`` to log to W&B as well (None: not)."""
        self.enabled = enabled
        self.path = Path(run_dir) / METRICS
        self._tb = None
        self._wandb = _start_wandb(Path(run_dir), **wandb) if enabled and wandb is not None else None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(run_dir) / TB_DIR))
            except ImportError:  # tensorboard not installed: metrics.jsonl only
                self._tb = None
        self._f = None
        if enabled:
            self.truncate_after(start_step)
            self._f = open(self.path, "a", encoding="utf-8")

    def truncate_after(self, step: int) -> None:
        """Keep only the records of steps <= ``step`` (atomic rewrite)."""
        if not self.path.exists():
            return
        keep = [json.dumps(r) + "\n" for r in read_metrics(self.path.parent) if int(r.get("step", 0)) <= step]
        from vssl.utils.fs import atomic_write_bytes

        atomic_write_bytes(self.path, "".join(keep).encode("utf-8"))

    def log(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        rec = {"step": int(step), **{k: _plain(v) for k, v in values.items()}, "time": round(time.time(), 3)}
        self._f.write(json.dumps(rec) + "\n")
        self._f.flush()
        scalars = {f"pretrain/{k}": v for k, v in rec.items()
                   if k not in ("step", "time", "epoch") and isinstance(v, (int, float))}
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log({**scalars, "epoch": rec.get("epoch")}, step=int(step))

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def _start_wandb(run_dir: Path, *, project: str, config: dict):
    """A W&B run for ``run_dir`` (resumed under the id kept in ``RUN_DIR/wandb_id``)."""
    import os
    import secrets

    from vssl.errors import InputError

    try:
        import wandb
    except ImportError:
        raise InputError("--logger wandb needs the wandb package: pip install wandb (vssl's wandb extra)") from None
    id_file = run_dir / WANDB_ID
    run_id = id_file.read_text("utf-8").strip() if id_file.is_file() else ""
    if not run_id:
        run_id = secrets.token_hex(4)
        from vssl.utils.fs import atomic_write_bytes

        atomic_write_bytes(id_file, run_id.encode())
    try:
        return wandb.init(project=project, name=run_dir.name, id=run_id, resume="allow", dir=str(run_dir),
                          config=config, mode=os.environ.get("WANDB_MODE") or None)
    except Exception as e:  # no login, no network: one line, the run has not started
        msg = str(e).strip().splitlines()
        raise InputError(f"W&B could not start ({type(e).__name__}: {msg[0][:160] if msg else ''}); "
                         "log in (wandb login) or run offline with WANDB_MODE=offline") from None


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return round(v, 6) if abs(v) < 1e6 else v
    return v


def read_metrics(run_dir: Path) -> list[dict]:
    """All records of ``RUN_DIR/metrics.jsonl`` (skipping a torn last line)."""
    path = Path(run_dir) / METRICS
    out = []
    if not path.exists():
        return out
    for line in path.read_text("utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def stats_text(s: dict | None) -> str | None:
    """The progress text of a logged record (loss, clips/s, lr, data wait, epoch); None for no record
    (:class:`vssl.utils.progress.Progress` with ``stats=True`` writes a plain line only with a text)."""
    if not s:
        return None
    parts = []
    if "loss" in s:
        parts.append(f"loss {s['loss']:.4f}")
    if "clips_per_s" in s:
        parts.append(f"{s['clips_per_s']:.1f} clips/s")
    if "lr" in s:
        parts.append(f"lr {s['lr']:.2e}")
    if "data_wait" in s:
        parts.append(f"wait {100 * s['data_wait']:.0f}%")
    if "epoch" in s:
        parts.append(f"epoch {s['epoch']}")
    return "  ".join(parts)
