"""The pretraining loop: method + backbone, SGD with warm-up and cosine or step decay, AMP, DDP, logs, checkpoints.

:func:`pretrain` runs one resolved :class:`~vssl.train.config.PretrainConfig` into a
run directory::

    RUN_DIR/config.yaml         the fully resolved config (the run's recipe)
    RUN_DIR/run.json            vssl version, git commit, cache manifest checksum, seed, world size, ...
    RUN_DIR/metrics.jsonl       one record per logged step (vssl.train.logging)
    RUN_DIR/tb/                 TensorBoard scalars
    RUN_DIR/checkpoints/last.pt every ``save_every`` steps and at the end (vssl.train.checkpoint)

Rerunning the same command into the same RUN_DIR resumes from ``last.pt``; a
different config (beyond the run-time settings of ``run.*`` and the loader's
worker count) is refused with the keys that differ.

Reproducibility: the data order is a per-epoch permutation of the seed, each
sample's clip draws come from ``(seed, epoch, index)``, and the global torch
generator is re-seeded from ``(seed, step, micro-batch)`` before every
micro-batch (augmentation, FAME permutations, BE lambda). A resumed run
therefore computes the same next step as an uninterrupted one, and one
process with ``accum = k`` computes the same gradients as ``k`` DDP processes
(up to float summation order), except for batch-norm statistics, which are
per micro-batch (per GPU) in both cases.

DDP: launch with ``torchrun --nproc-per-node N``; ``batch_size`` stays the
global batch; each process gets ``batch_size / (N * accum)`` clips per
micro-batch. Rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vssl import __version__
from vssl.errors import CacheError, InputError, Stopped, TrainingError
from vssl.io.rundir import CONFIG_FILE, RUN_FILE, read_run_config, read_run_json
from vssl.signals import StopRequest, ignore_stop_signals
from vssl import dist as D
from vssl.train.checkpoint import (checkpoint_path, load_training_checkpoint, rng_state, save_checkpoint,
                                   set_rng_state)
from vssl.train.config import PretrainConfig, differences, to_dict
from vssl.train.engine import build_engine, build_method, effective_lr, resolve_decode, resolve_device, train_step
from vssl.train.logging import MetricsLogger, read_metrics, stats_text
from vssl.utils.progress import Progress


# --------------------------------------------------------------------------- small pieces


def _fit_batch(cfg: PretrainConfig, n: int, info: D.DistInfo) -> PretrainConfig:
    """``cfg`` with the global batch capped to what ``n`` videos allow (one warning line on rank 0;
    run.json records ``batch_size`` and ``batch_size_requested``). The learning rate follows the
    capped batch under linear scaling."""
    import dataclasses

    from vssl.data.sampling import fit_batch_size

    want = cfg.optim.batch_size
    got = fit_batch_size(want, n, world_size=info.world_size, accum=cfg.optim.accum)
    if got == want:
        return cfg
    if info.is_main:
        print(f"warning: batch size {want} is larger than the dataset ({n} videos): training with batch {got} "
              "(run.json: batch_size); pass --batch-size to choose", file=sys.stderr, flush=True)
    return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, batch_size=got))


def git_commit() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the vssl source tree, (None, None) outside git."""
    here = Path(__file__).resolve().parent
    try:
        c = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if c.returncode != 0:
            return None, None
        d = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10)
        return c.stdout.strip(), bool(d.stdout.strip()) if d.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


# --------------------------------------------------------------------------- run directory


def _read_run_config(run_dir: Path) -> dict | None:
    """The config.yaml the run wrote (the loop reads no other name), None when absent."""
    return read_run_config(run_dir, advice="use another --out", names=(CONFIG_FILE,))


def _check_resume(run_dir: Path, cfg: PretrainConfig, cache_sum: str) -> None:
    old = _read_run_config(run_dir)
    if old is None:
        return
    diffs = differences(old, to_dict(cfg))
    old_sum = read_run_json(run_dir).get("cache_checksum")
    if old_sum and old_sum != cache_sum:
        diffs.insert(0, "cache manifest checksum (the cache was changed or is another cache)")
    if diffs:
        more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
        raise InputError(
            f"{run_dir} holds a run with other settings ({'; '.join(diffs[:3])}{more}): "
            "rerun with the same settings to resume, or use another --out"
        )


def _write_run_files(run_dir: Path, cfg: PretrainConfig, meta: dict, resumed: bool) -> None:
    import yaml

    from vssl.io.manifest import atomic_write_bytes, atomic_write_json

    run_dir.mkdir(parents=True, exist_ok=True)
    if not resumed or not (run_dir / CONFIG_FILE).exists():
        text = "# vssl pretrain: fully resolved config of this run\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False)
        atomic_write_bytes(run_dir / CONFIG_FILE, text.encode("utf-8"))
        atomic_write_json(run_dir / RUN_FILE, {**meta, "resumes": []})
    else:
        try:
            old = json.loads((run_dir / RUN_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            old = dict(meta)
        old.setdefault("resumes", []).append({k: meta[k] for k in ("started", "world_size", "device", "git_commit")})
        atomic_write_json(run_dir / RUN_FILE, old)


# --------------------------------------------------------------------------- pretrain


def pretrain(
    cfg: PretrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    quiet: bool = False,
    stop_after: int | None = None,
) -> dict:
    """Pretrain ``cfg.method`` on ``cfg.cache`` into the run directory ``out``.

    Args:
        cfg: a resolved config (:func:`vssl.train.config.resolve_config`).
        out: run directory (created; resumed when it holds a checkpoint).
        resume: insist on resuming (error when there is nothing to resume).
        quiet: no progress display.
        stop_after: stop after this many optimiser steps of this invocation
            without the final checkpoint (tests: simulates a killed run).

    Returns:
        Summary: ``steps``, ``total_steps``, ``epoch``, ``loss`` (last logged),
        ``clips_per_s``, ``seconds``, ``run_dir``, ``checkpoint``, ``resumed_from``.

    Raises:
        CacheError: cache missing / incomplete / lacking a precompute (exit 3).
        InputError: bad option, batch larger than the dataset, other config in ``out``.
        TrainingError: NaN / inf loss or CUDA out of memory (exit 5).
        CacheError: another process trains into ``out`` or writes the cache (named; exit 3).
    """
    info = D.env_dist_info()
    device = resolve_device(cfg.run.device, info.local_rank)
    started_here = info.enabled and not (torch.distributed.is_available() and torch.distributed.is_initialized())
    info = D.init_distributed(device)
    try:
        with _run_locks(cfg, Path(out), info.is_main):
            return _pretrain(cfg, Path(out), device, info, resume=resume, quiet=quiet, stop_after=stop_after)
    finally:
        if started_here:
            D.shutdown_distributed()


@contextlib.contextmanager
def _run_locks(cfg: PretrainConfig, run_dir: Path, main: bool):
    """Rank 0 holds the run directory (one writer) and a reader's lock on the cache (no extract
    into it meanwhile); a second run into the same directory is refused naming the first."""
    from vssl.io.lock import dir_lock

    if not main:
        yield
        return
    if cfg.cache:  # a missing or unfinished cache is one line before anything is created
        from vssl.io.manifest import manifest_path

        manifest_path(Path(cfg.cache))
    with contextlib.ExitStack() as locks:
        if cfg.cache:
            locks.enter_context(dir_lock(cfg.cache, "vssl pretrain", shared=True, create=False))
        locks.enter_context(dir_lock(run_dir, "vssl pretrain"))
        yield


def _pretrain(cfg: PretrainConfig, run_dir: Path, device: torch.device, info: D.DistInfo, *, resume: bool,
              quiet: bool, stop_after: int | None) -> dict:
    from vssl.data.dataset import ClipDataset, collate
    from vssl.io.cache import SkipLog
    from vssl.data.sampling import EpochBatchSampler
    from vssl.io.manifest import load_manifest, manifest_checksum

    t_start = time.time()
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"--out {run_dir} exists and is not a directory")
    if not cfg.cache:
        raise InputError("no cache given: pass --cache CACHE")
    load_manifest(Path(cfg.cache), "extract")  # exit 3 early when the cache is missing
    cache_sum = manifest_checksum(Path(cfg.cache))
    ckpt_file = checkpoint_path(run_dir)
    has_ckpt = ckpt_file.is_file()
    if resume and not has_ckpt:
        raise InputError(f"nothing to resume in {run_dir} (no {ckpt_file.relative_to(run_dir)})")
    decode = resolve_decode(cfg.data.decode, device)

    method = build_method(cfg)
    skipped_file = run_dir / SKIPPED_FILE
    ds = ClipDataset(
        cfg.cache, cfg.data.split, cfg.data.subset, cfg.data.clip_len, cfg.data.stride, cfg.data.load_size,
        method.requires, decode=decode, seed=cfg.seed, fame_masks=cfg.data.fame_masks,
        static_frames=cfg.data.static_frames, skip_bad=SkipLog(skipped_file) if cfg.run.skip_bad_videos else None,
        frame_cache_mb=cfg.run.frame_cache_mb,
    )
    requested_batch = cfg.optim.batch_size
    cfg = _fit_batch(cfg, len(ds), info)  # a small dataset: the largest batch that fits, one warning
    monitor = None
    if cfg.run.monitor == "knn":  # checked on every rank (one line on an unlabelled cache), run on rank 0
        from vssl.train.monitor import KnnMonitor, monitor_every

        monitor = KnnMonitor(cfg, device, cfg.optim.batch_size // (info.world_size * cfg.optim.accum))
    if has_ckpt:
        _check_resume(run_dir, cfg, cache_sum)
    sampler = EpochBatchSampler(len(ds), cfg.optim.batch_size, seed=cfg.seed, world_size=info.world_size,
                                rank=info.rank, accum=cfg.optim.accum)
    spe = sampler.steps_per_epoch
    total = cfg.optim.steps or cfg.optim.epochs * spe
    warmup = cfg.optim.warmup_steps if cfg.optim.warmup_steps is not None else int(round(cfg.optim.warmup_epochs * spe))
    warmup = min(warmup, max(0, total - 1))
    workers = cfg.data.workers
    if workers == 0 and ds.frame_cache and not ds.cache_whole and info.is_main:
        print(f"note: the split takes ~{ds.decoded_bytes() / 2**20:.0f} MB decoded, more than the store of decoded "
              f"frames holds (run.frame_cache_mb {cfg.run.frame_cache_mb:g}): frames are decoded again in the "
              "training process; pass --workers N to decode in parallel, or a larger run.frame_cache_mb",
              file=sys.stderr, flush=True)
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate, pin_memory=device.type == "cuda",
        persistent_workers=workers > 0, prefetch_factor=cfg.data.prefetch if workers > 0 else None,
        worker_init_fn=ignore_stop_signals if workers > 0 else None,  # stop signals are the main process's
    )
    eng = build_engine(cfg, method, device, info, total_steps=total, warmup_steps=warmup, decode=decode)

    step, epoch, pos = 0, 0, 0
    resumed_from = None
    log_window: list = []  # losses of steps not logged yet when a stop signal came (see save())
    if has_ckpt:
        ck = load_training_checkpoint(ckpt_file)  # one line when unreadable, foreign, newer or NaN
        try:
            method.load_state_dict(ck["model"])
            eng.optimizer.load_state_dict(ck["optimizer"])
            eng.scheduler.load_state_dict(ck["scheduler"])
            eng.scaler.load_state_dict(ck["scaler"])
            set_rng_state(ck["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
            raise CacheError(f"checkpoint {ckpt_file} does not fit this run ({type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0][:160] if str(e).strip() else '-'}): move it away "
                             "to start over, or use another --out") from None
        step, epoch, pos = int(ck["step"]), int(ck["epoch"]), int(ck["pos"])
        log_window = list(ck.get("log_window") or [])
        resumed_from = step
        del ck

    commit, dirty = git_commit()
    meta = {
        "vssl_version": __version__, "git_commit": commit, "git_dirty": dirty, "cache": str(Path(cfg.cache).resolve()),
        "cache_checksum": cache_sum, "seed": cfg.seed, "world_size": info.world_size, "device": str(device),
        "decode": decode, "torch_version": torch.__version__, "python": platform.python_version(),
        "videos": len(ds), "batch_size": cfg.optim.batch_size, "batch_size_requested": requested_batch,
        "steps_per_epoch": spe, "total_steps": total, "warmup_steps": warmup,
        "effective_lr": effective_lr(cfg), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    main = info.is_main
    if main:
        _write_run_files(run_dir, cfg, meta, resumed=has_ckpt)
    D.barrier()
    logger = MetricsLogger(run_dir, enabled=main, tensorboard=cfg.run.tensorboard, start_step=step,
                           wandb={"project": cfg.run.wandb_project, "config": to_dict(cfg)} if cfg.run.wandb else None)
    progress = Progress("pretrain", total, start=step, enabled=main and not quiet, transient=False, stats=True,
                        label="step")
    monitored = {int(r["step"]) for r in read_metrics(run_dir) if "knn_top1" in r} if monitor and main else set()
    last_knn = None

    def run_monitor(at_step: int, at_epoch: int) -> None:
        """The kNN monitor's row at ``at_step`` (rank 0; once per step, also across a resume)."""
        nonlocal last_knn
        if not main or at_step in monitored:
            return
        vals = monitor(method.backbone)
        vals["monitor_fraction"] = monitor.seconds / max(1e-9, time.time() - t_start)
        logger.log(at_step, {"epoch": at_epoch, **vals})
        monitored.add(at_step)
        last_knn = vals["knn_top1"]

    def save(at_step: int, at_epoch: int, at_pos: int) -> None:
        if at_pos >= spe:
            at_epoch, at_pos = at_epoch + 1, 0
        # A stop between two log steps saves the steps not logged yet (plain floats), so that the
        # resumed run logs the same means at the same steps as an uninterrupted one.
        pending = [(s_, float(D.all_reduce_mean(l_)), {k: float(D.all_reduce_mean(v)) for k, v in g_.items()}, lr_)
                   for s_, l_, g_, lr_ in window]
        if main:
            save_checkpoint(ckpt_file, {
                "model": method.state_dict(), "optimizer": eng.optimizer.state_dict(),
                "scheduler": eng.scheduler.state_dict(), "scaler": eng.scaler.state_dict(), "rng": rng_state(),
                "step": at_step, "epoch": at_epoch, "pos": at_pos, "config": to_dict(cfg),
                "vssl_version": __version__, "log_window": pending,
            })
        D.barrier()

    window: list[tuple[int, Tensor, dict, float]] = [  # (step, loss, logs, lr used)
        (int(s_), torch.tensor(l_, device=device), {k: torch.tensor(v, device=device) for k, v in g_.items()}, lr_)
        for s_, l_, g_, lr_ in log_window]
    t_win, wait_win = time.perf_counter(), 0.0
    last_loss, last_rate, saved_at = None, 0.0, resumed_from
    done_here = 0
    global_batch = cfg.optim.batch_size
    every = monitor_every(cfg.run.monitor_every, total) if monitor is not None else 0

    def flush(at_step: int, at_epoch: int) -> None:
        """Sync the window's losses (all ranks), stop on NaN, log on rank 0."""
        nonlocal window, t_win, wait_win, last_loss, last_rate
        if not window:
            return
        losses = D.all_reduce_mean(torch.stack([w[1] for w in window]))
        vals = losses.cpu().numpy()
        bad = np.flatnonzero(~np.isfinite(vals))
        if len(bad):
            s = window[int(bad[0])][0]
            kept = f"the last good checkpoint (step {saved_at}) is kept" if saved_at else "no checkpoint was written"
            raise TrainingError(
                f"loss is {vals[bad[0]]} at step {s}: training stopped; {kept}. "
                "Try a lower --lr, a longer warm-up, --no-bf16, or check the data"
            )
        keys = window[-1][2].keys()
        logs = {k: float(D.all_reduce_mean(torch.stack([w[2][k] for w in window if k in w[2]]).mean())) for k in keys}
        elapsed = max(1e-9, time.perf_counter() - t_win)
        n = len(window)
        last_loss, last_rate = float(vals.mean()), n * global_batch / elapsed
        rec = {"epoch": at_epoch, "loss": last_loss, "lr": window[-1][3],
               "clips_per_s": last_rate, "data_wait": min(1.0, wait_win / elapsed), **logs}
        if cfg.run.skip_bad_videos:
            rec["skipped_videos"] = len(SkipLog.read(skipped_file))
        logger.log(at_step, rec)
        progress.update(at_step, stats_text(rec))
        window, t_win, wait_win = [], time.perf_counter(), 0.0

    stopped_early = False
    it = None  # the epoch's DataLoader iterator (it owns the worker processes)
    stop = StopRequest()  # SIGTERM / SIGINT / SIGUSR1: finish the step, save, exit (vssl.signals)
    try:
        stop.__enter__()
        if pos >= spe:
            epoch, pos = epoch + 1, 0
        if monitor is not None and step == 0:
            run_monitor(0, epoch)  # the random-init value: where the curve starts
        while step < total and not stopped_early:
            sampler.set_epoch(epoch, pos)
            it = iter(loader)
            while pos < spe and step < total:
                lr_now = eng.optimizer.param_groups[0]["lr"]
                fetched = [0]
                try:
                    loss, logs, wait = train_step(eng, lambda: (next(it), fetched.__setitem__(0, fetched[0] + 1))[0],
                                                  step)
                except Exception:  # a DataLoader worker killed by the same SIGTERM (RuntimeError, OSError)
                    if not stop.requested:
                        raise
                    if fetched[0] == 0:  # no micro-batch of this step was used: the state is the last step's
                        if saved_at != step:
                            save(step, epoch, pos)
                        raise Stopped(f"{stop.name} at step {step} of {total} (the data loader's workers were "
                                      f"stopped too): checkpoint written to {ckpt_file}; rerun the same command "
                                      "to resume", stop.exit_code) from None
                    raise Stopped(f"{stop.name} at step {step + 1} of {total}, whose data loader workers were "
                                  f"stopped mid-step: the checkpoint of step {saved_at} is kept ({ckpt_file}); "
                                  "rerun the same command to resume", stop.exit_code) from None
                step, pos, done_here = step + 1, pos + 1, done_here + 1
                window.append((step, loss, logs, lr_now))
                wait_win += wait
                at_save = step % cfg.run.save_every == 0 or step == total
                if step % cfg.run.log_every == 0 or at_save:
                    flush(step, epoch)
                else:
                    progress.update(step)
                if monitor is not None and (step % every == 0 or step == total):
                    run_monitor(step, epoch)  # before the save: a kill in between redoes it, once
                if at_save:
                    save(step, epoch, pos)
                    saved_at = step
                if stop_after is not None and done_here >= stop_after:
                    stopped_early = True
                    break
                if step < total and _stop_agreed(stop, info, device):
                    if not at_save:
                        save(step, epoch, pos)
                    raise Stopped(
                        f"{stop.name} at step {step} of {total}: checkpoint written to {ckpt_file} "
                        f"({len(window)} unlogged steps kept in it); rerun the same command to resume",
                        stop.exit_code)
            if pos >= spe:
                epoch, pos = epoch + 1, 0
        if not stopped_early:
            flush(step, epoch)
    finally:
        # the workers first: shutting them down takes their pids off PyTorch's SIGCHLD handler, which
        # stop.__exit__ puts back; otherwise a worker that the same SIGTERM kills a moment later makes
        # that handler raise (in the stop message, or in the iterator's __del__ when the garbage
        # collector gets to it: the loader keeps its persistent workers' iterator, and a traceback
        # of the worker's death keeps the iterator)
        it = None
        _shutdown_workers(loader)
        stop.__exit__()
        progress.close()
        logger.close()
        del loader
        if cfg.run.skip_bad_videos and main:
            _record_skipped(run_dir, skipped_file)
        if monitor is not None and main and monitor.calls:
            _record_monitor(run_dir, monitor.summary(time.time() - t_start))
    return {
        "steps": step, "total_steps": total, "epoch": epoch, "loss": last_loss, "clips_per_s": last_rate,
        "seconds": time.time() - t_start, "run_dir": str(run_dir), "checkpoint": str(ckpt_file) if saved_at else None,
        "resumed_from": resumed_from, "steps_per_epoch": spe, "videos": len(ds),
        "monitor": {**monitor.summary(time.time() - t_start), "knn_top1": last_knn} if monitor and main else None,
    }


def _shutdown_workers(loader) -> None:
    """Stop a DataLoader's persistent worker processes now (PyTorch's own shutdown, which its
    iterator's ``__del__`` would run later; idempotent)."""
    itr = getattr(loader, "_iterator", None)
    if itr is not None and hasattr(itr, "_shutdown_workers"):
        itr._shutdown_workers()
        loader._iterator = None


SKIPPED_FILE = "skipped_videos.jsonl"


def _record_skipped(run_dir: Path, skipped_file: Path) -> None:
    """``--skip-bad-videos``: the number and ids of the videos left out, in run.json."""
    from vssl.io.cache import SkipLog
    from vssl.io.manifest import atomic_write_json

    bad = SkipLog.read(skipped_file)
    try:
        doc = json.loads((run_dir / RUN_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return
    doc["skipped_videos"] = {"count": len(bad), "videos": sorted(bad)[:100], "file": SKIPPED_FILE}
    atomic_write_json(run_dir / RUN_FILE, doc)


def _record_monitor(run_dir: Path, summary: dict) -> None:
    """``--monitor knn``: its subset and cost (calls, seconds, fraction of this process's run) in run.json."""
    from vssl.io.manifest import atomic_write_json

    try:
        doc = json.loads((run_dir / RUN_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return
    doc["monitor"] = summary
    atomic_write_json(run_dir / RUN_FILE, doc)


def _stop_agreed(stop: StopRequest, info: D.DistInfo, device: torch.device) -> bool:
    """Whether to stop after this step: a stop signal on this process, or, under DDP, on any rank
    (all ranks then stop at the same step, so that none waits in a collective)."""
    if not info.enabled:
        return stop.requested
    asked = D.all_reduce_mean(torch.tensor([1.0 if stop.requested else 0.0], device=device))
    if float(asked) > 0 and stop.signum is None:
        stop.signum = signal.SIGTERM  # another rank got it
    return float(asked) > 0


# --------------------------------------------------------------------------- export


def load_run_config(run_dir: Path) -> PretrainConfig:
    """The resolved config of a run directory."""
    from vssl.train.config import config_from_dict

    d = _read_run_config(Path(run_dir))
    if d is None:
        raise InputError(f"{run_dir} is not a vssl pretrain run (no {CONFIG_FILE})")
    return config_from_dict(d)


def export_backbone(run_dir: str | Path, out: str | Path) -> dict:
    """Write the trained backbone of ``run_dir`` as a plain state dict.

    The file holds only tensors in torchvision's names (:func:`vssl.models.backbone_state_dict`):
    ``torch.load(out, weights_only=True)`` reads it, and it loads into
    ``build_backbone(name)`` (strictly) or the torchvision model (``strict=False``,
    only the classifier missing).

    Returns:
        ``{"backbone", "method", "step", "out", "tensors"}``.
    """
    from vssl.models import backbone_state_dict, build_backbone

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run directory not found: {run_dir}")
    cfg = load_run_config(run_dir)
    ckpt_file = checkpoint_path(run_dir)
    if not ckpt_file.is_file():
        raise CacheError(f"{run_dir} has no checkpoint yet ({ckpt_file.relative_to(run_dir)}): train first")
    ck = load_training_checkpoint(ckpt_file, required=("model", "step"))
    sd = {k[len("backbone."):]: v for k, v in ck["model"].items() if k.startswith("backbone.")}
    backbone = build_backbone(cfg.backbone)
    try:
        backbone.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise CacheError(f"checkpoint of {run_dir} does not fit backbone '{cfg.backbone}': {str(e).splitlines()[0]}") from None
    out = Path(out)
    state = {k: v.contiguous() for k, v in backbone_state_dict(backbone).items()}
    save_checkpoint(out, state)  # tmp + fsync + rename, as every checkpoint
    return {"backbone": cfg.backbone, "method": cfg.method, "step": int(ck["step"]), "out": str(out), "tensors": len(state)}
