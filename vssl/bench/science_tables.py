"""The tables of ``vssl bench science``: its rows' names, the summary with bootstrap intervals and
paired differences, the verdicts, ``science.md`` and ``science.png``.

A row is a method on an input (``dsm``, ``dsm+diff``), a random network (``random``,
``random+diff``, ``random-vit_tiny``) or a supervised control (``supervised-rgb``,
``supervised-diff``); a row is compared with the random network and MoCo on its own input
(:func:`baselines_of`). :mod:`vssl.bench.science` runs the benchmark and calls these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vssl.bench.stats import Interval, bootstrap_ci, paired_difference, pooled_ci

REGIMES = ("none", "class")
INPUTS = ("rgb", "diff")
DEFAULT_INPUTS = ("diff",)
"""What the methods see unless ``--inputs`` says otherwise: frame differences. On RGB frames the
preset's budget teaches a tiny network no motion even with labels (the ``supervised-rgb`` control,
which always runs, stays near chance on ``none``), so RGB rows cannot tell a method that learns
motion from one that does not, and they would double the benchmark; ``--inputs rgb,diff`` adds them."""
CONTROLS = {"supervised-rgb": {"supervised.input": "rgb"}, "supervised-diff": {"supervised.input": "diff"}}
BASELINE = "moco"
METRICS = (("r1", "action R@1"), ("r5", "action R@5"), ("linear", "linear top-1"), ("bg1", "background R@1"))


def row_name(name: str, input: str) -> str:
    """``moco`` (RGB, the papers' input) or ``moco+diff`` (the same method on frame differences)."""
    return name if input == "rgb" else f"{name}+{input}"


def split_name(row: str) -> tuple[str, str]:
    """:func:`row_name` inverted: ``"moco+diff"`` -> ``("moco", "diff")``."""
    name, _, input = row.partition("+")
    return name, input or "rgb"


def is_random(row: str) -> bool:
    """A random network's row: ``random``, ``random+diff`` or ``random-<backbone>``."""
    return split_name(row)[0].partition("-")[0] == "random"


def method_backbone(preset: str, method: str) -> str | None:
    """The backbone ``preset`` gives ``method`` when it is not the preset's evaluation backbone (the
    ViT of VideoMAE and MGM), else None: such a method is compared with a random network of its own
    backbone, ``random-<backbone>``. A name the preset does not list (``random``, the controls'
    rows) gets the preset's common backbone, so None."""
    from vssl.train.presets import eval_options, pretrain_overrides

    b = pretrain_overrides(preset, method).get("backbone")
    return None if b is None or b == eval_options(preset).get("backbone") else str(b)


def baselines_of(row: str, preset: str = "demo") -> tuple[str, str]:
    """The random network and the MoCo run a row is compared with: the ones with the same input, the
    random network of the row's own backbone when the preset gives it another (:func:`method_backbone`)."""
    if row in CONTROLS:  # a supervised control against the random network and MoCo on its own input
        input = CONTROLS[row]["supervised.input"]
        return row_name("random", input), row_name(BASELINE, input)
    base, input = split_name(row)
    b = method_backbone(preset, base)
    return row_name("random" if b is None else f"random-{b}", input), row_name(BASELINE, input)


def summarise(outcomes: dict[str, dict[str, list[dict]]] | list[dict[str, dict[str, list[dict]]]],
              n_boot: int = 4000, preset: str = "demo") -> dict[str, Any]:
    """``outcomes[regime][name]`` = one outcome dict per seed (name ``random`` = random init) ->
    intervals per metric, paired differences vs random and vs MoCo, verdicts.

    A list of such dicts is replications (datasets from other data seeds, so other test videos): a
    row present in all of them gets :func:`vssl.bench.stats.pooled_ci` of its tables (each paired
    difference taken within its dataset first); rows missing from one are left out."""
    reps = outcomes if isinstance(outcomes, list) else [outcomes]
    table: dict[str, Any] = {}
    for regime in dict.fromkeys(r for o in reps for r in o):
        bys = [o.get(regime, {}) for o in reps]
        rt: dict[str, Any] = {}
        for name in [n for n in bys[0] if all(n in by for by in bys)]:
            row: dict[str, Any] = {"seeds": min(len(by[name]) for by in bys)}
            baselines = baselines_of(name, preset)
            for key, _ in METRICS:
                if not all(key in r for by in bys for r in by[name]):
                    continue
                vs = [np.array([r[key] for r in by[name]], float) for by in bys]
                row[key] = (bootstrap_ci(vs[0], n_boot=n_boot) if len(vs) == 1
                            else pooled_ci(vs, n_boot=n_boot)).as_dict()
                for tag, base in zip(("random", BASELINE), baselines):
                    if base == name or not all(base in by for by in bys):
                        continue
                    diffs = []
                    for v, by in zip(vs, bys):
                        b = np.array([r[key] for r in by[base]], float)
                        n = min(len(v), len(b))  # paired on the seeds both have (seed i with seed i)
                        if n and b.shape[1:] == v.shape[1:]:
                            diffs.append((v[:n], b[:n]))
                    if len(diffs) == len(vs) == 1:
                        row[f"{key}-{tag}"] = paired_difference(*diffs[0], n_boot=n_boot).as_dict()
                    elif diffs and len(diffs) == len(vs):
                        row[f"{key}-{tag}"] = pooled_ci([a - b for a, b in diffs], n_boot=n_boot).as_dict()
            rt[name] = row
        if rt:
            table[regime] = rt
    return {"table": table, "verdicts": verdicts(table)}


def _iv(d: dict | None) -> Interval | None:
    return None if d is None else Interval(d["mean"], d["lo"], d["hi"], d.get("level", 0.95))


def verdicts(table: dict[str, Any]) -> dict[str, str]:
    """One line per method (not the baselines and controls) from the intervals of :func:`summarise`."""
    names = [n for r in table.values() for n in r if not is_random(n) and n not in CONTROLS]
    out = {}
    for name in dict.fromkeys(names):
        parts = []
        none = table.get("none", {}).get(name, {})
        d = _iv(none.get("r1-random"))
        if d is not None and d.lo > 0:
            parts.append("learns motion")
        cls = table.get("class", {}).get(name, {})
        bg, act = _iv(cls.get(f"bg1-{BASELINE}")), _iv(cls.get("r1-random"))
        if bg is not None and act is not None and bg.hi < 0 and act.lo > 0:
            parts.append("sheds scene")
        out[name] = ", ".join(parts) if parts else "no evidence"
    return out


def _fmt(d: dict | None, signed: bool = False) -> str:
    if d is None:
        return "-"
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * d['mean'])} [{f.format(100 * d['lo'])}, {f.format(100 * d['hi'])}]"


def cameras(meta: dict[str, Any]) -> dict[str, str]:
    """``{regime: synth camera}`` of a benchmark's meta (older results: one ``camera`` for all)."""
    if "cameras" in meta:
        return dict(meta["cameras"])
    return {r: meta.get("camera", "static") for r in REGIMES}


def markdown(summary: dict[str, Any], meta: dict[str, Any], diagnostics: dict | None = None,
             coverage: dict | None = None) -> str:
    pooled = meta.get("pooled") or []
    cams = cameras(meta)
    lines = [f"# vssl bench science ({meta['preset']} preset, {meta['seeds']} seed(s), "
             f"{meta['test_videos']} test videos per regime, chance {100 / meta['classes']:.1f} %"
             f"{', panning camera' if set(cams.values()) == {'pan'} else ''}"
             f"{f', pooled over {len(pooled)} datasets' if pooled else ''})", "",
             *([f"Pooled over the datasets of {', '.join(f'`{p}`' for p in pooled)} (data seeds "
                f"{', '.join(str(s) for s in meta.get('data_seeds', []))}): each interval resamples every dataset's "
                "seeds and test videos on its own (a stratified bootstrap); a paired difference is taken within "
                "each dataset, then pooled.", ""] if pooled else []),
             "Percent; mean over seeds x test videos with a 95 % bootstrap interval; "
             "differences are paired (same seeds' indices, same test videos). A `+diff` row is the method "
             "on frame differences (`data.input=diff`); its `- random` and `- moco` are against the random "
             "network and MoCo on the same input; a method the preset gives another backbone (VideoMAE's "
             "and MGM's ViT) is compared with a random network of that backbone (`random-<backbone>`).", ""]
    mixed = len(set(cams.values())) > 1
    for regime, rows in summary["table"].items():
        head = {"none": "bias none (background independent of the class): motion learning",
                "class": "bias class (train background follows the class, test backgrounds another class's): "
                         "scene reliance"}[regime]
        cam = {"pan": "panning"}.get(c := cams.get(regime, "static"), c)
        lines += [f"## {head}{f', {cam} camera' if mixed else ''}", ""]
        cols = ["action R@1", "- random", f"- {BASELINE}", "action R@5", "linear top-1"]
        keys = [("r1", False), ("r1-random", True), (f"r1-{BASELINE}", True), ("r5", False), ("linear", False)]
        if regime == "class":
            cols += ["background R@1", f"bg - {BASELINE}"]
            keys += [("bg1", False), (f"bg1-{BASELINE}", True)]
        lines += ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, row in rows.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k), s) for k, s in keys) + " |")
        lines.append("")
    lines += ["## Verdicts", ""]
    lines += [f"- **{n}**: {v}" for n, v in summary["verdicts"].items()]
    lines += ["", "learns motion: bias none, action R@1 - random init has an interval above 0. "
                  f"sheds scene: bias class, background R@1 - {BASELINE} below 0 and action R@1 - random above 0.", ""]
    if diagnostics:
        lines += ["## Training diagnostics (first -> last logged value, mean over seeds)", ""]
        for regime, by in diagnostics.items():
            for name, runs in by.items():
                keys = sorted({k for r in runs for k in r})
                vals = []
                for k in keys:
                    f = [r[k]["first"] for r in runs if k in r]
                    la = [r[k]["last"] for r in runs if k in r]
                    vals.append(f"{k} {np.mean(f):.3g} -> {np.mean(la):.3g}")
                lines.append(f"- {regime} / {name}: " + ", ".join(vals))
        lines.append("")
    if coverage:
        from vssl.bench.diagnostics import coverage_line

        lines += ["## How much of the moving object the views keep (ground-truth masks)", ""]
        lines += [f"- {regime}: {coverage_line(d)}" for regime, d in coverage.items()]
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = list(summary["table"])
    panels = [(r, "r1", "action R@1") for r in regimes]
    if "class" in regimes:
        panels.append(("class", "bg1", "background R@1"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (regime, key, title) in zip(axes[0], panels):
        rows = summary["table"][regime]
        names = [n for n in rows if key in rows[n]]
        m = [100 * rows[n][key]["mean"] for n in names]
        lo = [100 * (rows[n][key]["mean"] - rows[n][key]["lo"]) for n in names]
        hi = [100 * (rows[n][key]["hi"] - rows[n][key]["mean"]) for n in names]
        colours = ["#999999" if is_random(n) else ("#cc8844" if n in CONTROLS else
                   ("#55aa77" if split_name(n)[1] != "rgb" else "#3366aa")) for n in names]
        ax.bar(range(len(names)), m, yerr=[lo, hi], capsize=3, color=colours)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{title}, bias {regime}", fontsize=9)
        ax.set_ylabel("%")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
