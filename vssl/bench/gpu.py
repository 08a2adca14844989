"""`make bench-gpu` / `vssl bench gpu`: every GPU figure of the project in one short run.

Prepared on a CPU machine for the few minutes a GPU is lent (see README, "GPU figures").
In one process, within ``budget_s``, in this order (what does not fit is recorded as
skipped, not silently dropped):

1. the environment (torch, CUDA, device name, cores);
2. the CUDA tests (``pytest -k "cuda or gpu"`` over the suite: every test that skips
   without a device);
3. a synth cache made on the machine's CPUs (``extract -j cores``);
4. ``bench_pretrain`` for each row of :data:`PRETRAIN_ROWS` (method x backbone x compile x
   JPEG decode on cpu/gpu; two views of 16 x 112 x 112, bf16, channels_last_3d): steps/s fed
   from the cache against the same step fed synthetic tensors already on the device, and
   the peak GPU memory of each row;
5. ``bench_eval`` (r3d_18, 10 clips per video) and the extrapolation to UCF101 split 1
   (13 320 videos x 10 clips);
6. a DDP smoke run through ``torchrun --nproc-per-node 1`` (nccl on a GPU);
7. GPU utilisation sampled by ``nvidia-smi`` every 500 ms over the whole run.

Writes ``bench_gpu.json`` and ``bench_gpu.md`` into ``out``. On a CPU (``device="cpu"``,
the tests) every stage runs with tiny settings so that the script itself is tested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

UCF101_SPLIT1_VIDEOS = 13_320  # train + test videos of UCF101 split 1 (9 537 + 3 783)
PRETRAIN_ROWS: tuple[dict[str, Any], ...] = (
    {"method": "dsm", "backbone": "r3d_18", "compile": False, "decode": "gpu"},
    {"method": "dsm", "backbone": "r3d_18", "compile": False, "decode": "cpu"},
    {"method": "moco", "backbone": "r3d_18", "compile": False, "decode": "gpu"},
    {"method": "moco", "backbone": "r2plus1d_18", "compile": False, "decode": "gpu"},
    {"method": "dsm", "backbone": "r2plus1d_18", "compile": False, "decode": "gpu"},
    {"method": "moco", "backbone": "r3d_18", "compile": False, "decode": "cpu"},
    {"method": "dsm", "backbone": "r3d_18", "compile": True, "decode": "gpu"},
    {"method": "moco", "backbone": "r3d_18", "compile": True, "decode": "gpu"},
)
"""The pretrain rows, most informative first (a budget cut drops the last ones)."""


class Sampler:
    """``nvidia-smi`` utilisation and memory every ``interval_ms`` into a CSV (None without it)."""

    def __init__(self, path: Path, interval_ms: int = 500):
        self.path, self.proc = path, None
        if shutil.which("nvidia-smi"):
            self.f = open(path, "w")
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=timestamp,utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 f"-lms={interval_ms}"], stdout=self.f, stderr=subprocess.DEVNULL)

    def stop(self) -> dict | None:
        if self.proc is None:
            return None
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.f.close()
        util, mem = [], []
        for line in self.path.read_text().splitlines():
            parts = [p.strip() for p in line.split(",")]
            try:
                util.append(float(parts[1]))
                mem.append(float(parts[2]))
            except (IndexError, ValueError):
                continue
        if not util:
            return None
        return {"samples": len(util), "util_mean": sum(util) / len(util), "util_max": max(util),
                "mem_used_max_mib": max(mem)}


def environment(device: str) -> dict:
    import torch

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
           "cores": os.cpu_count(), "device": device}
    if device == "cuda" and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


def _peak_reset(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


def bench_gpu(out: str | Path, *, device: str = "cuda", budget_s: float = 480.0, tiny: bool = False,
              run_tests: bool = True) -> dict:
    """Run the stages of the module docstring; returns the results (also written to ``out``).

    ``tiny``: CPU-sized settings (tiny backbone, few steps, small clips) to test the script.
    """
    from vssl.bench.data import synth_cache
    from vssl.bench.eval import bench_eval
    from vssl.bench.pretrain import bench_pretrain

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    left = lambda: budget_s - (time.perf_counter() - t0)  # noqa: E731
    res: dict[str, Any] = {"environment": environment(device), "budget_s": budget_s, "skipped": []}
    sampler = Sampler(out / "nvidia_smi.csv")
    try:
        if run_tests:
            ts = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-k", "cuda or gpu", "tests"],
                               capture_output=True, text=True, timeout=max(30.0, min(150.0, left() / 3)))
            tail = (r.stdout or "").strip().splitlines()[-1:] or [""]
            res["cuda_tests"] = {"exit": r.returncode, "summary": tail[0], "seconds": time.perf_counter() - ts}
        cores = os.cpu_count() or 1
        cache = synth_cache(out / "data", videos=8 if tiny else 64, frames=24 if tiny else 64,
                            size=(64, 48) if tiny else (171, 128), workers=1 if tiny else min(16, cores), min_frames=1)
        res["pretrain"] = []
        for row in PRETRAIN_ROWS[:2] if tiny else PRETRAIN_ROWS:
            if left() < (30 if tiny else 60):
                res["skipped"].append({"pretrain": row, "why": "budget"})
                continue
            _peak_reset(device)
            kw: dict[str, Any] = dict(steps=2, batch_size=4, clip_len=4, crop=24, load_size=(32, 42), workers=0,
                                      warmup=1) if tiny else dict(steps=20, batch_size=32, workers=min(12, cores))
            r = bench_pretrain(row["method"], "tiny" if tiny else row["backbone"], cache, device=device,
                               decode=row["decode"] if device == "cuda" else "cpu", bf16=device == "cuda",
                               channels_last=device == "cuda", compile=row["compile"], **kw)
            res["pretrain"].append({**row, **r, "peak_gpu_gib": _peak_gib(device)})
        if left() > (20 if tiny else 60):
            _peak_reset(device)
            kw = dict(max_videos=4, clips=2, clip_len=4, resize=32, crop=24, batch_size=4, workers=0) if tiny else \
                dict(max_videos=64, clips=10, batch_size=64, workers=min(12, cores))
            r = bench_eval("tiny" if tiny else "r3d_18", cache, device=device, **kw)
            cps = r.get("pipeline_clips_per_s")
            ev = {**r, "peak_gpu_gib": _peak_gib(device)}
            if cps:
                ev["ucf101_split1_features_s"] = UCF101_SPLIT1_VIDEOS * 10 / cps
            res["eval"] = ev
        else:
            res["skipped"].append({"eval": "r3d_18", "why": "budget"})
        if left() > (20 if tiny else 45):
            res["ddp_smoke"] = ddp_smoke(cache, out / "ddp", device=device)
        else:
            res["skipped"].append({"ddp_smoke": "budget"})
    finally:
        res["nvidia_smi"] = sampler.stop()
        res["seconds"] = time.perf_counter() - t0
        (out / "bench_gpu.json").write_text(json.dumps(res, indent=1, default=str))
        (out / "bench_gpu.md").write_text(markdown(res))
    return res


def ddp_smoke(cache: Path, run: Path, *, device: str) -> dict:
    """Five steps of MoCo through torchrun (``python -m torch.distributed.run --nproc-per-node 1``;
    nccl on a GPU, gloo on a CPU)."""
    shutil.rmtree(run, ignore_errors=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "-m", "vssl.cli.main", "pretrain", "--method", "moco",
           "--cache", str(cache), "--out", str(run), "--backbone", "tiny", "--steps", "5", "--batch-size", "4",
           "--device", device, "--set", "data.clip_len=4", "--set", "data.load_size=[32,42]",
           "--set", "moco.crop=24", "--set", "moco.queue_size=16", "--set", "data.workers=0",
           "--set", "run.tensorboard=false"]
    ts = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    last = ((r.stderr or "") + (r.stdout or "")).strip().splitlines()[-1:] or [""]
    return {"exit": r.returncode, "checkpoint": any(run.glob("**/*.pt")), "seconds": time.perf_counter() - ts,
            "last_line": last[0][:300]}


def markdown(res: dict) -> str:
    env = res["environment"]
    lines = [f"# vssl bench gpu: {env.get('gpu', env['device'])}, torch {env['torch']} (CUDA {env['cuda']}), "
             f"{env['cores']} cores, {res.get('seconds', 0):.0f} s", ""]
    if "cuda_tests" in res:
        lines += [f"CUDA tests: exit {res['cuda_tests']['exit']}, {res['cuda_tests']['summary']}", ""]
    rows = res.get("pretrain") or []
    if rows:
        keys = sorted({k for r in rows for k in r if isinstance(r[k], (int, float)) and not isinstance(r[k], bool)})
        lines += ["| method | backbone | compile | decode | " + " | ".join(keys) + " |",
                  "|---" * (4 + len(keys)) + "|"]
        for r in rows:
            vals = [f"{r[k]:.3g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
            lines.append(f"| {r['method']} | {r['backbone']} | {r['compile']} | {r['decode']} | " + " | ".join(vals) + " |")
        lines.append("")
    if "eval" in res:
        ev = res["eval"]
        lines += ["eval: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in ev.items()), ""]
    if "ddp_smoke" in res:
        lines += [f"DDP smoke (torchrun, 1 process): exit {res['ddp_smoke']['exit']}, checkpoint "
                  f"{res['ddp_smoke']['checkpoint']}", ""]
    if res.get("nvidia_smi"):
        s = res["nvidia_smi"]
        lines += [f"nvidia-smi: utilisation mean {s['util_mean']:.0f} %, max {s['util_max']:.0f} %, "
                  f"memory used max {s['mem_used_max_mib']:.0f} MiB ({s['samples']} samples)", ""]
    if res.get("skipped"):
        lines += ["skipped: " + "; ".join(json.dumps(s) for s in res["skipped"]), ""]
    return "\n".join(lines)
