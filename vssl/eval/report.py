"""``vssl report``: several eval / pretrain run directories side by side.

A directory is read as:

* an **eval directory** (``metrics.json`` of format ``vssl-eval``, written by
  ``vssl eval ...``): its metrics, the cache it evaluated on (``eval_data``), and
  the method, backbone, pretraining data and epochs of the weights it evaluated
  (the pretraining run's ``config.yaml`` when the
  checkpoint was a run directory); the run's training loss if that run
  directory is still there;
* a **pretrain run directory** (``config.yaml`` and / or ``metrics.jsonl``):
  method, backbone, data and epochs from the config, the loss curve from the
  ``step`` / ``loss`` rows of ``metrics.jsonl``, and the metrics of every eval
  directory found inside it (up to two levels down, e.g. ``RUN/eval/``).

Directories that belong to one pretraining run (the run directory itself and the eval
directories of its checkpoints) are joined into **one row**: its training facts and every
evaluation of it. An eval of random weights or of an exported file is a row of its own.

Output (``--out``): ``report.md`` (one row per run, one column per training fact and metric,
columns that no run has left out, best value of each accuracy / recall column in bold), ``report.csv``
(long format: run, field, value), ``report.json``, ``recall.png`` (video-level
recall at k of every run with retrieval results) and ``loss.png`` (pretraining
loss curves), ``finetune_loss.png`` when runs were finetuned.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vssl.errors import InputError
from vssl.eval.checkpoints import config_name, read_run_config
from vssl.eval.protocols import flat_metrics
from vssl.eval.session import METRICS_FILE, read_metrics

HIGHER_IS_BETTER = ("retrieval/", "linear/", "knn/", "finetune/", "monitor/")
MONITOR_KEY = "knn_top1"  # rows of `vssl pretrain --monitor knn` in metrics.jsonl
_ATTRS = ("kind", "method", "backbone", "data", "epochs", "batch", "step", "eval_data", "checkpoint")


@dataclass
class RunInfo:
    name: str
    path: str
    kind: str  # eval | pretrain
    method: str | None = None
    backbone: str | None = None
    data: str | None = None
    epochs: int | str | None = None  # planned (config); "N steps" when the run was set by steps
    step: int | None = None  # optimiser steps the evaluated checkpoint had done
    batch: int | None = None  # global batch of the pretraining run (run.json: the one used)
    eval_data: str | None = None  # the cache evaluated on (eval directories)
    checkpoint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    recall: dict[int, float] | None = None
    loss: list[tuple[float, float]] = field(default_factory=list)
    loss_from: str | None = None  # the run directory the loss curve was read from
    finetune_loss: list[tuple[float, float]] = field(default_factory=list)
    spectrum: list[float] = field(default_factory=list)  # singular values of the train features (retrieval)
    joined: list[str] = field(default_factory=list)  # eval directories joined into this row
    monitor: list[tuple[float, float]] = field(default_factory=list)  # (step, kNN top-1) of --monitor knn


def find_key(obj: Any, key: str, depth: int = 0) -> Any:
    """The value of ``key`` at the top of ``obj`` or in nested dicts (breadth first, 3 levels)."""
    if not isinstance(obj, dict) or depth > 3:
        return None
    if key in obj and not isinstance(obj[key], dict):
        return obj[key]
    for v in obj.values():
        got = find_key(v, key, depth + 1)
        if got is not None:
            return got
    return None


def _data_name(cfg: dict) -> str | None:
    for k in ("cache", "data", "dataset"):
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("cache") or v.get("root") or v.get("path") or v.get("name")
        if isinstance(v, str) and v:
            return Path(v).name or v
    return None


def read_loss(run_dir: Path, key: str = "loss") -> list[tuple[float, float]]:
    """(step, ``key``) rows of ``run_dir/metrics.jsonl`` (rows without both are skipped), e.g.
    ``key="rep_rank"``: the collapse monitor of the Siamese methods."""
    p = Path(run_dir) / "metrics.jsonl"
    out: list[tuple[float, float]] = []
    if not p.is_file():
        return out
    for line in p.read_text("utf-8", errors="replace").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        if isinstance(r, dict) and isinstance(r.get("step"), (int, float)) and isinstance(r.get(key), (int, float)):
            out.append((float(r["step"]), float(r[key])))
    return out


def _eval_dirs_inside(run_dir: Path) -> list[Path]:
    found = []
    for pattern in (f"*/{METRICS_FILE}", f"*/*/{METRICS_FILE}"):
        for p in sorted(run_dir.glob(pattern)):
            if read_metrics(p.parent) is not None:
                found.append(p.parent)
    return found


def _apply_config(info: RunInfo, cfg: dict) -> None:
    info.method = info.method or config_name(cfg.get("method"))
    info.backbone = info.backbone or config_name(cfg.get("backbone"))
    info.data = info.data or _data_name(cfg)
    bs = find_key(cfg.get("optim") if isinstance(cfg.get("optim"), dict) else {}, "batch_size")
    if info.batch is None and isinstance(bs, int) and not isinstance(bs, bool):
        info.batch = bs
    steps = find_key(cfg, "steps")
    ep = find_key(cfg, "epochs")
    if info.epochs is None and isinstance(steps, int) and not isinstance(steps, bool):
        info.epochs = f"{steps} steps"
    elif info.epochs is None and isinstance(ep, (int, float)):
        info.epochs = int(ep)


def _merge_eval(info: RunInfo, doc: dict, eval_dir: Path) -> None:
    results = doc.get("results") or {}
    info.metrics.update(flat_metrics(results))
    rec = ((results.get("retrieval") or {}).get("recall") or {}).get("video")
    if rec:
        info.recall = {int(k): float(v) for k, v in rec.items()}
    sv = ((results.get("retrieval") or {}).get("spectrum") or {}).get("singular_values")
    if sv:
        info.spectrum = [float(v) for v in sv]
    ft = eval_dir / "finetune" / "metrics.jsonl"
    if ft.is_file():
        info.finetune_loss = read_loss(ft.parent)
    cache = doc.get("cache") or {}
    if cache.get("root") and not info.eval_data:
        info.eval_data = f"{Path(cache['root']).name} (split {cache.get('split', '?')})"


def load_run(path: str | Path) -> RunInfo:
    """Read one eval or pretrain directory (see the module docstring).

    Raises:
        InputError: ``path`` is neither.
    """
    d = Path(path)
    if not d.is_dir():
        raise InputError(f"run directory not found: {d}")
    doc = read_metrics(d)
    if doc is not None:
        ck = doc.get("checkpoint") or {}
        info = RunInfo(name=d.name, path=str(d.resolve()), kind="eval", backbone=ck.get("backbone"),
                       method=ck.get("method"), checkpoint=ck.get("path") or ck.get("source"))
        info.step = ck.get("step")
        _apply_config(info, ck.get("config") or {})
        _merge_eval(info, doc, d)
        ck_path = Path(ck["path"]) if ck.get("path") else None
        if ck_path is not None:
            run_dir = ck_path if ck_path.is_dir() else ck_path.parent
            if not read_run_config(run_dir) and read_run_config(run_dir.parent):
                run_dir = run_dir.parent  # RUN/checkpoints/last.pt
            info.loss = read_loss(run_dir)
            info.loss_from = str(run_dir.resolve())
            _apply_monitor(info, run_dir)
            if not info.data:
                info.data = _data_name(read_run_config(run_dir))
        return info
    cfg = read_run_config(d)
    loss = read_loss(d)
    if not cfg and not loss and not (d / "metrics.jsonl").exists():
        raise InputError(f"{d} is neither an eval directory ({METRICS_FILE} of `vssl eval`) nor a pretraining "
                         "run directory (config.yaml, metrics.jsonl)")
    info = RunInfo(name=d.name, path=str(d.resolve()), kind="pretrain", loss=loss, checkpoint=str(d.resolve()),
                   step=int(loss[-1][0]) if loss else None, loss_from=str(d.resolve()))
    _apply_config(info, cfg)
    _apply_monitor(info, d)
    for e in _eval_dirs_inside(d):
        _merge_eval(info, read_metrics(e) or {}, e)
        info.kind = "pretrain+eval"
    return info


def _apply_monitor(info: RunInfo, run_dir: Path) -> None:
    """The kNN monitor curve of a run directory, its last value as the ``monitor/knn_top1`` column."""
    info.monitor = read_loss(run_dir, MONITOR_KEY)
    if info.monitor:
        info.metrics["monitor/knn_top1"] = info.monitor[-1][1]


def _used_batch(run_dir: Path) -> int | None:
    """The batch a run trained with (run.json; a batch larger than the data was capped)."""
    from vssl.io.rundir import read_run_json

    v = read_run_json(run_dir).get("batch_size")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _run_key(r: RunInfo) -> str:
    """The pretraining run a directory belongs to (its own path when none is known)."""
    if r.kind != "eval":
        return r.path
    if r.loss_from and read_run_config(Path(r.loss_from)):
        return r.loss_from
    return r.path


def join_runs(runs: list[RunInfo]) -> list[RunInfo]:
    """One :class:`RunInfo` per pretraining run: its run directory (when given) with the metrics,
    recall, spectrum and finetune loss of all its eval directories merged in, in the order given."""
    groups: dict[str, list[RunInfo]] = {}
    for r in runs:
        groups.setdefault(_run_key(r), []).append(r)
    out = []
    for key, group in groups.items():
        base = next((r for r in group if r.kind != "eval"), group[0])
        evals = [r for r in group if r is not base]
        base.joined += [e.path for e in evals]
        for e in evals:
            base.metrics.update({k: v for k, v in e.metrics.items() if k not in base.metrics})
            base.recall = base.recall or e.recall
            base.spectrum = base.spectrum or e.spectrum
            base.finetune_loss = base.finetune_loss or e.finetune_loss
            base.monitor = base.monitor or e.monitor
            base.loss = base.loss or e.loss
            base.loss_from = base.loss_from or e.loss_from
            for a in ("method", "backbone", "data", "epochs", "batch", "step"):
                if getattr(base, a) is None:
                    setattr(base, a, getattr(e, a))
            if e.eval_data and e.eval_data not in (base.eval_data or ""):
                base.eval_data = f"{base.eval_data}, {e.eval_data}" if base.eval_data else e.eval_data
        if evals and base.kind != "eval":
            base.kind = "pretrain+eval"
        if base.kind == "eval" and read_run_config(Path(key)):
            base.name = Path(key).name  # evals of one run, the run directory not given: named after the run
        used = _used_batch(Path(key))
        if used is not None:
            base.batch = used
        out.append(base)
    return out


def _unique_names(runs: list[RunInfo]) -> None:
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.name] = seen.get(r.name, 0) + 1
    for r in runs:
        if seen[r.name] > 1:
            r.name = f"{Path(r.path).parent.name}/{r.name}"
    counts: dict[str, int] = {}
    for r in runs:  # still equal (same parent name): number them
        counts[r.name] = counts.get(r.name, 0) + 1
        if counts[r.name] > 1:
            r.name = f"{r.name} ({counts[r.name]})"


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if "sim_" in metric:
        return f"{v:.3f}"
    return f"{100 * v:.1f}"


def _metric_order(names: set[str]) -> list[str]:
    order = {"retrieval": 0, "linear": 1, "knn": 2, "finetune": 3, "scene_bias": 4}

    def key(m: str):
        sec = m.split("/", 1)[0]
        k = m.rsplit("@", 1)[-1]
        level = 0 if "/video/" in m else (1 if "/clip/" in m else 2)
        return (order.get(sec, 9), level, m.split("@")[0], int(k) if k.isdigit() else 0, m)

    return sorted(names, key=key)


def _md_escape(s: Any) -> str:
    return str(s).replace("|", "\\|")


def build_report(run_dirs: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Write the report of ``run_dirs`` into ``out``; returns ``{"runs": [...], "files": [...]}``."""
    from vssl.eval.plots import plot_loss_curves, plot_recall_curves, plot_spectrum
    from vssl.utils.fs import atomic_write_bytes

    if not run_dirs:
        raise InputError("give at least one run directory")
    runs = join_runs([load_run(p) for p in run_dirs])
    _unique_names(runs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    figures: list[tuple[str, str]] = []
    recall = {r.name: r.recall for r in runs if r.recall}
    if recall:
        files.append(plot_recall_curves(recall, out / "recall.png", title="Video retrieval (test -> train)"))
        figures.append(("Video retrieval, recall at k", "recall.png"))
    losses: dict[str, list] = {}
    seen_from: set[str] = set()
    for r in sorted(runs, key=lambda r: r.kind == "eval"):  # a run directory's own name first
        if r.loss and r.loss_from not in seen_from:  # one curve per pretraining run
            losses[r.name] = r.loss
            seen_from.add(r.loss_from)
    if losses:
        n = max(len(v) for v in losses.values())
        files.append(plot_loss_curves(losses, out / "loss.png", smooth=0.9 if n > 200 else (0.6 if n > 20 else 0.0),
                                      title="Pretraining loss"))
        figures.append(("Pretraining loss", "loss.png"))
    for key, what in (("rep_rank", "backbone features"), ("emb_rank", "embeddings")):
        ranks = {r.name: read_loss(Path(r.loss_from), key) for r in runs if r.name in losses and r.loss_from}
        ranks = {k: v for k, v in ranks.items() if v}
        if ranks:  # the collapse monitor of SimSiam, BYOL, Barlow Twins, VICReg, DirectCLR
            fname = f"collapse_{key}.png"
            files.append(plot_loss_curves(ranks, out / fname, title=f"Collapse monitor: effective rank of the {what}",
                                          ylabel="effective rank"))
            figures.append((f"Collapse monitor: effective rank of the {what}", fname))
    mon = {r.name: r.monitor for r in runs if r.monitor and r.name in losses}
    if mon:
        files.append(plot_loss_curves({k: [(s, 100 * v) for s, v in c] for k, c in mon.items()}, out / "monitor_knn.png",
                                      title="kNN monitor while pretraining (top-1 on a fixed subset)",
                                      ylabel="kNN top-1 (%)"))
        figures.append(("kNN monitor: top-1 of the backbone while pretraining (vssl pretrain --monitor knn)",
                        "monitor_knn.png"))
    spectra = {r.name: r.spectrum for r in runs if r.spectrum}
    if spectra:
        files.append(plot_spectrum(spectra, out / "spectrum.png", title="Spectrum of the train clip features"))
        figures.append(("Spectrum of the train clip features (dimensional collapse: a tail falling to 0)",
                        "spectrum.png"))
    ft = {r.name: r.finetune_loss for r in runs if r.finetune_loss}
    if ft:
        files.append(plot_loss_curves(ft, out / "finetune_loss.png", title="Finetune loss"))
        figures.append(("Finetune loss", "finetune_loss.png"))

    metrics = _metric_order({m for r in runs for m in r.metrics})
    lines = [f"# vssl report", "", f"{len(runs)} runs, {time.strftime('%Y-%m-%d %H:%M')}. Metrics in percent "
             "(similarities as cosines); best accuracy / recall of each column in bold; one row per "
             "pretraining run with all its evaluations.", ""]
    attrs = [a for a in _ATTRS if a not in ("kind", "checkpoint") and any(getattr(r, a) is not None for r in runs)]
    columns: list[list[str]] = [[_md_escape(r.name) for r in runs]]
    for a in attrs:
        columns.append([_md_escape("-" if getattr(r, a) is None else getattr(r, a)) for r in runs])
    for m in metrics:
        vals = [r.metrics.get(m) for r in runs]
        cells = [_fmt(m, v) for v in vals]
        present = [v for v in vals if v is not None]
        if m.startswith(HIGHER_IS_BETTER) and len(present) > 1:
            best = max(present)
            cells = [f"**{c}**" if v is not None and v == best else c for c, v in zip(cells, vals)]
        columns.append(cells)
    header = ["run", *[a.replace("_", " ") for a in attrs], *metrics]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|" + "---|" * len(attrs) + "---:|" * len(metrics))
    for i in range(len(runs)):
        lines.append("| " + " | ".join(col[i] for col in columns) + " |")
    lines.append("")
    for title, fname in figures:
        lines += [f"## {title}", "", f"![{title}]({fname})", ""]
    lines += ["## Runs", ""]
    for r in runs:
        lines.append(f"- **{_md_escape(r.name)}** ({r.kind}): `{r.path}`"
                     + "".join(f"; eval `{p}`" for p in r.joined))
    lines.append("")
    md = out / "report.md"
    atomic_write_bytes(md, "\n".join(lines).encode())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run", "field", "value"])
    for r in runs:
        for a in _ATTRS:
            w.writerow([r.name, a, "" if getattr(r, a) is None else getattr(r, a)])
        for m in metrics:
            if m in r.metrics:
                w.writerow([r.name, m, f"{r.metrics[m]:.6f}"])
    atomic_write_bytes(out / "report.csv", buf.getvalue().encode())
    doc = {"format": "vssl-report", "runs": [{**asdict(r), "loss": len(r.loss), "finetune_loss": len(r.finetune_loss),
                                            "monitor": [list(p) for p in r.monitor],
                                            "spectrum": len(r.spectrum)}
                                            for r in runs]}
    atomic_write_bytes(out / "report.json", json.dumps(doc, indent=1).encode())
    files = [md, out / "report.csv", out / "report.json", *files]
    return {"runs": runs, "files": [str(f) for f in files], "metrics": metrics}
