"""``vssl bench science``: does a method learn motion, and does it shed the scene?

The instrument, end to end, on data it makes itself (``vssl synth``), in two regimes:

* ``none``: the background family is drawn independently of the class in every
  split. Only the motion tells the class, so action retrieval above random init
  means the method learnt motion.
* ``class``: the train background follows the class; test videos wear another
  class's background. Background R@1 (the nearest train video wears the query's
  background family, i.e. is of the class whose background the query borrowed)
  measures reliance on the scene.

By default ``none`` is filmed by a static camera and ``class`` by a panning one
(:data:`AUTO_CAMERA`), and the methods see frame differences (:data:`DEFAULT_INPUTS`; RGB rows
with ``--inputs rgb,diff``).

For each regime and seed it pretrains every method of ``methods`` with the preset
(``--preset demo``: tiny backbone, a few hundred CPU steps), plus two supervised
controls with the same backbone and budget (``supervised`` with RGB input: how far
labels go, shortcut included; with frame differences: a motion-only input, the
learnability ceiling), and evaluates them and a random network of the same seed with
the preset's evaluation settings:

* video-level action retrieval R@1 and R@5 (test videos query the train videos);
* linear probe top-1 (video level, SGD on frozen clip features of the train split);
* background R@1 (``class`` regime).

Every figure is a mean over seeds x test videos with a 95 % two-level bootstrap
interval (:mod:`vssl.bench.stats`), and paired differences against random init
and against MoCo. Verdicts, per method:

* "learns motion": on ``none``, action R@1 minus random init has an interval above 0;
* "sheds scene": on ``class``, background R@1 minus MoCo's has an interval below 0
  and action R@1 minus random init an interval above 0;
* otherwise "no evidence".

Nothing here reads the synthetic generator's internals beyond what a user has for
real data: the split files, the class labels, and each video's background family
from ``synth.json`` (the one annotation a scene-bias benchmark needs).

Everything is resumable: data, caches, runs and evaluations already complete in
``--out`` are reused, so a killed benchmark continues where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vssl.bench.science_tables import (BASELINE, CONTROLS, DEFAULT_INPUTS, INPUTS, REGIMES, is_random, markdown, method_backbone, plot,
                                       row_name, split_name, summarise)
from vssl.errors import InputError
from vssl.io.manifest import atomic_write_bytes

QUICK_METHODS = ("moco",)  # on the default inputs: 3 pretraining runs per regime with the controls
CORE_METHODS = ("moco", "simclr", "dsm", "be", "fame", "cmd")  # the default: the baselines and the scene-debiasing methods
QUICK_STEPS = 100
RESULTS = "science.json"
AUTO_CAMERA = {"none": "static", "class": "pan"}
"""``--camera auto`` (the default): each regime on the camera where what it measures is visible.
``none`` (motion learning) on a static camera: only the object moves. ``class`` (scene reliance)
on a panning camera: under a static camera frame differences cancel the scene, so no input of the
default (``--inputs diff``) can rely on it (measured: background R@1 below chance for every row,
the random network included), and there is nothing to shed; a panning scene survives the
differences."""


@dataclass(frozen=True)
class ScienceConfig:
    """One benchmark: data, methods, seeds, budget."""

    out: Path
    methods: tuple[str, ...] = ()  # empty = CORE_METHODS; ("all",) = every registered self-supervised method
    seeds: int = 3
    regimes: tuple[str, ...] = REGIMES
    inputs: tuple[str, ...] = DEFAULT_INPUTS  # diff: frame differences; rgb: the papers' input (see DEFAULT_INPUTS)
    controls: bool = True
    preset: str = "demo"
    steps: int | None = None  # None = the preset's
    classes: int = 8
    videos_per_class: int = 24
    test_fraction: float = 0.5  # 8 x 12 = 96 test queries
    size: tuple[int, int] = (128, 96)
    frames: int = 48
    camera: str = "auto"  # per regime (AUTO_CAMERA); "static" or "pan" (the scene moves, so differences carry it) for both
    cache_size: int = 64
    data_seed: int = 0
    device: str = "cpu"
    workers: int = 2
    jobs: int = 0  # runs (pretrain + eval, or a random network's eval) at once, each on its share of the cores; 0 = auto_jobs
    n_boot: int = 4000
    quiet: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # dotted overrides of the runs ("moco.x": MoCo's only)

    def validate(self) -> None:
        from vssl.methods import METHODS

        bad = [m for m in self.methods if (m not in METHODS or m == "supervised") and m != "all"]
        if bad:
            ssl = [m for m in METHODS if m != "supervised"]
            raise InputError(f"unknown method {bad[0]!r} for bench science; choose from: {', '.join(ssl)}")
        if self.seeds < 1:
            raise InputError(f"--seeds must be >= 1 (got {self.seeds})")
        bad_i = [i for i in self.inputs if i not in INPUTS]
        if bad_i or not self.inputs:
            raise InputError(f"--inputs must be among {', '.join(INPUTS)} (got {', '.join(self.inputs) or 'none'})")
        bad_r = [r for r in self.regimes if r not in REGIMES]
        if bad_r or not self.regimes:
            raise InputError(f"--regimes must be among {', '.join(REGIMES)} (got {', '.join(self.regimes) or 'none'})")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"--steps must be >= 1 (got {self.steps})")
        if self.jobs < 0:
            raise InputError(f"--jobs must be >= 1, or 0 for one run per core (got {self.jobs})")
        from vssl.synth import CAMERA_MOTIONS

        if self.camera not in (*CAMERA_MOTIONS, "auto"):
            raise InputError(f"--camera must be auto or one of {', '.join(CAMERA_MOTIONS)} (got {self.camera!r})")


def synth_params(synth: dict) -> dict:
    """The ``params`` of a ``synth.json``; data made before ``--camera`` existed was filmed static."""
    return {"camera": "static", **synth.get("params", {})}


def camera_of(cfg: ScienceConfig, regime: str) -> str:
    """The synth camera of ``regime``'s data: ``cfg.camera``, or :data:`AUTO_CAMERA`'s for ``auto``."""
    return AUTO_CAMERA[regime] if cfg.camera == "auto" else cfg.camera


def quick_config(cfg: ScienceConfig) -> ScienceConfig:
    """``--quick``: one seed, MoCo (unless methods were named) on the inputs, 100 steps per run (unless
    ``steps`` was given): a check that the instrument runs, a few minutes on 2 cores; its intervals
    are wide and 100 steps teach a tiny network little (see the full benchmark)."""
    return replace(cfg, seeds=1, methods=cfg.methods or QUICK_METHODS,
                   steps=cfg.steps if cfg.steps is not None else QUICK_STEPS)


def all_methods() -> tuple[str, ...]:
    from vssl.methods import METHODS

    return tuple(m for m in METHODS if m != "supervised")


def chosen_methods(cfg: ScienceConfig) -> tuple[str, ...]:
    """``cfg.methods`` (``all``: every registered method), default :data:`CORE_METHODS`; MoCo first
    when missing (the baseline every difference is against)."""
    methods = cfg.methods or CORE_METHODS
    if "all" in methods:
        methods = all_methods()
    return methods if BASELINE in methods else (BASELINE, *methods)


def takes_input(cfg: ScienceConfig, method: str, input: str) -> bool:
    """Whether ``method`` runs on ``input`` with the preset: frame differences are for convolutional
    backbones (a ViT cuts tubelets of the frames; VideoMAE and MGM are RGB only)."""
    from vssl.train.presets import pretrain_overrides

    backbone = {**pretrain_overrides(cfg.preset, method), **cfg.extra}.get("backbone", "")
    return input == "rgb" or not str(backbone).startswith("vit")


# --------------------------------------------------------------------------- stages


class Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.0f} s] {msg}", flush=True)


def prepare_data(cfg: ScienceConfig, regime: str, log: Log) -> Path:
    """Synthetic videos of ``regime`` and their cache under ``out/data``; reused when complete."""
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import META_FILE, make_synth

    root = Path(cfg.out) / "data"
    src, cache = root / f"synth-{regime}", root / f"cache-{regime}"
    params = {"classes": cfg.classes, "videos_per_class": cfg.videos_per_class, "size": list(cfg.size),
              "frames": cfg.frames, "seed": cfg.data_seed, "test_fraction": float(cfg.test_fraction), "bias": regime,
              "camera": camera_of(cfg, regime)}
    meta = src / META_FILE
    done = False
    if meta.exists():
        old = synth_params(json.loads(meta.read_text()))
        done = all(old.get(k) == v for k, v in params.items())
        held = [] if done else [d for d in (Path(cfg.out) / "runs" / regime, Path(cfg.out) / "eval" / regime)
                                if d.is_dir() and any(d.iterdir())]
        if held:  # its runs and evaluations were made on that data: never mix them with new data
            what = ", ".join(f"{k} {old.get(k)!r} -> {v!r}" for k, v in params.items() if old.get(k) != v)
            raise InputError(f"{cfg.out} holds the {regime} regime's runs of a dataset made with other settings "
                             f"({what}; e.g. --camera's default is auto since 2026-12-02: class on a panning camera): "
                             f"pass another --out, or the old settings ({', '.join(str(d) for d in held)} are kept)")
    if not done:
        log(f"{regime}: synth {cfg.classes} classes x {cfg.videos_per_class} videos")
        make_synth(src, classes=cfg.classes, videos_per_class=cfg.videos_per_class, size=tuple(cfg.size),
                   frames=cfg.frames, seed=cfg.data_seed, test_fraction=cfg.test_fraction, bias=regime,
                   camera=camera_of(cfg, regime), progress=False)
    if not (cache / "manifest.json").exists() or not done:
        log(f"{regime}: extract")
        extract(src, cache, ExtractOptions(size=cfg.cache_size, workers=cfg.workers), force=not done, quiet=True)
    return cache


def pretrain_run(cfg: ScienceConfig, cache: Path, name: str, seed: int, run: Path, log: Log) -> Path:
    """Pretrain ``name`` (a method or a control) with the preset into ``run`` (resumed if partial)."""
    from vssl.methods import METHODS
    from vssl.train.config import resolve_config
    from vssl.train.loop import pretrain

    base, input = split_name(name)
    method, over = ("supervised", CONTROLS[name]) if name in CONTROLS else (base, {"data.input": input})
    extra = {k: v for k, v in cfg.extra.items() if k.split(".")[0] not in METHODS or k.split(".")[0] == method}
    overrides = {"cache": str(cache), "seed": seed, "run.device": cfg.device, "data.workers": cfg.workers,
                 "run.tensorboard": False, **extra, **over}
    if cfg.steps is not None:
        overrides["optim.steps"] = cfg.steps
    from vssl.train.presets import pretrain_overrides

    n_train = cfg.classes * (cfg.videos_per_class - _n_test(cfg))
    batch = pretrain_overrides(cfg.preset, method).get("optim.batch_size", 16)
    if batch > n_train:  # tiny configurations (tests): the batch cannot exceed the train split
        overrides["optim.batch_size"] = n_train
    pc = resolve_config(method, overrides=overrides, preset=cfg.preset)
    t0 = time.perf_counter()
    s = pretrain(pc, run, quiet=True)
    if s.get("resumed_from") != s.get("steps"):
        log(f"  pretrained {name} seed {seed}: {s['steps']} steps in {time.perf_counter() - t0:.0f} s, "
            f"last loss {s.get('loss') if s.get('loss') is None else round(s['loss'], 3)}")
    return run


def training_diagnostics(run: Path) -> dict[str, dict[str, float]]:
    """First and last logged value of every scalar in ``run/metrics.jsonl`` (loss, acc, neg_wins,
    motion loss and its chance level, ...): does the objective move at all?"""
    p = Path(run) / "metrics.jsonl"
    if not p.exists():
        return {}
    recs = []
    for line in p.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            continue
    skip = {"step", "epoch", "time", "lr", "clips_per_s", "data_wait"}
    out: dict[str, dict[str, float]] = {}
    for r in recs:
        for k, v in r.items():
            if k in skip or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            d = out.setdefault(k, {"first": float(v)})
            d["last"] = float(v)
    return out


def _n_test(cfg: ScienceConfig) -> int:
    from vssl.synth import n_test_videos

    return n_test_videos(cfg.videos_per_class, cfg.test_fraction)


def evaluate(cfg: ScienceConfig, cache: Path, weights: Path | None, seed: int, out: Path,
             input: str = "auto", backbone: str | None = None) -> dict[str, list]:
    """Per-test-video outcomes of one network: ``r1``, ``r5`` (action retrieval hits), ``linear``
    (linear probe correct) and ``bg1`` (nearest train video wears the query's background family).
    ``input``: what the network sees (``auto``: what its run was trained on; a random network: rgb).
    ``backbone``: a random network's, when not the preset's."""
    import torch

    from vssl.eval.features import FeatureOptions, Runtime
    from vssl.eval.linear import predict_logits, train_linear_probe, video_level
    from vssl.eval.scene_bias import background_of, synth_meta
    from vssl.eval.session import EvalConfig, EvalSession, clip_options

    got = out / "outcomes.json"
    if got.exists():
        return json.loads(got.read_text())
    o = clip_options(weights, cfg.preset, random_init=weights is None, backbone=backbone)
    ec = EvalConfig(cache=cache, out=out, checkpoint=weights, backbone=o["backbone"], random_init=weights is None,
                    seed=seed, force=True,
                    features=FeatureOptions(clips=o["clips"], clip_len=o["clip_len"], stride=o["stride"],
                                            resize=o["resize"], crop=o["size"], normalize="auto", input=input),
                    runtime=Runtime(batch_size=64, workers=cfg.workers, device=cfg.device, progress=False))
    s = EvalSession(ec)
    train, test = s.features("train"), s.features("test")
    g = torch.nn.functional.normalize(torch.as_tensor(train.video_feats()), dim=1)
    q = torch.nn.functional.normalize(torch.as_tensor(test.video_feats()), dim=1)
    order = (q @ g.T).argsort(dim=1, descending=True).numpy()
    hit = train.labels[order] == test.labels[:, None]
    res: dict[str, list] = {"r1": hit[:, 0].astype(int).tolist(), "r5": hit[:, :5].any(1).astype(int).tolist()}
    meta = synth_meta(s.cache)
    if meta is not None:
        tf, qf = background_of(meta, train.video_ids), background_of(meta, test.video_ids)
        res["bg1"] = (tf[order[:, 0]] == qf).astype(int).tolist()
    c = int(max(train.labels.max(), test.labels.max())) + 1
    probe = train_linear_probe(train.clip_feats, train.clip_labels, c, method="sgd", epochs=100, lr=0.1, wd=0.0,
                               batch_size=256, seed=seed, device=torch.device("cpu"))
    vid = video_level(predict_logits(probe, test.clip_feats), test.video_index, num_videos=test.n_videos)
    res["linear"] = (vid.argmax(1).numpy() == test.labels).astype(int).tolist()
    res["test_ids"] = list(test.video_ids)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(got, json.dumps(res).encode())
    return res


def data_diagnostics(cfg: ScienceConfig, cache: Path, methods: tuple[str, ...]) -> dict | None:
    """:func:`vssl.bench.diagnostics.object_coverage` of the regime's train videos at the views of
    the preset's FAME run (load size, crop, min scale, beta; MoCo's views when FAME is not run),
    or None without ground truth."""
    from vssl.bench.diagnostics import object_coverage
    from vssl.methods import METHODS
    from vssl.methods.fame import Config as FameConfig
    from vssl.train.config import resolve_config

    method = "fame" if "fame" in methods else BASELINE
    extra = {k: v for k, v in cfg.extra.items() if k.split(".")[0] not in METHODS or k.split(".")[0] == method}
    pc = resolve_config(method, overrides={"cache": str(cache), **extra}, preset=cfg.preset)
    p = pc.params
    return object_coverage(cache, cache.parent / cache.name.replace("cache-", "synth-", 1),
                           load_hw=tuple(pc.data.load_size), crop=p.crop, clip_len=pc.data.clip_len,
                           beta=getattr(p, "beta", FameConfig().beta), min_scale=p.min_scale)


# --------------------------------------------------------------------------- driver


def run_job(cfg: ScienceConfig, cache: Path, regime: str, job: tuple, log: Log | None = None) -> tuple[dict, dict | None]:
    """One row's seed: ``(name, seed, input, backbone)``; a random network is only evaluated, a
    method or control is pretrained (resumed if partial) and evaluated. Returns (outcomes,
    training diagnostics or None)."""
    name, seed, input, backbone = job
    out = Path(cfg.out)
    log = log or Log(cfg.quiet)
    if is_random(name):
        return evaluate(cfg, cache, None, seed, out / "eval" / regime / name / f"seed{seed}", input=input,
                        backbone=backbone), None
    run = out / "runs" / regime / name / f"seed{seed}"
    pretrain_run(cfg, cache, name, seed, run, log)
    diag = training_diagnostics(run)
    return evaluate(cfg, cache, run, seed, out / "eval" / regime / name / f"seed{seed}"), diag


MAX_AUTO_JOBS = 4


def _usable_cores() -> list[int]:
    import os

    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def auto_jobs(device: str) -> int:
    """``--jobs 0``: on the CPU one run per usable core, at most :data:`MAX_AUTO_JOBS` (a tiny network
    gains little from a second thread: on the 2-core VM ``--quick``'s runs took x0.73-0.80 the time
    at two jobs of one core each than one after the other on both); on a GPU one (the runs would
    share it)."""
    return max(1, min(len(_usable_cores()), MAX_AUTO_JOBS)) if device == "cpu" else 1


def _core_groups(jobs: int) -> list[list[int]]:
    """The cores this process may use, split into ``jobs`` groups (round robin when there are fewer)."""
    cores = _usable_cores()
    if jobs >= len(cores):
        return [[cores[k % len(cores)]] for k in range(jobs)]
    return [cores[k::jobs] for k in range(jobs)]


def _init_worker(groups) -> None:
    """A pool worker takes one group of cores: its affinity and torch's thread count."""
    import os

    import torch

    cores = groups.get()
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cores)
        except OSError:  # not allowed here: share the cores
            pass
    torch.set_num_threads(len(cores))


def _run_jobs(cfg: ScienceConfig, cache: Path, regime: str, jobs: list[tuple], log: Log) -> dict:
    """``{(name, seed): (outcomes, diagnostics)}`` of every job: one after the other with ``cfg.jobs``
    = 1, else in a pool of ``cfg.jobs`` processes (spawned, each on its share of the cores, with
    DataLoader workers only for the cores of its share beyond the first). A stop
    signal (SIGTERM, SIGINT, SIGUSR1) is passed on to the pool's processes, whose runs save their
    checkpoints; the benchmark then ends with one line, and a rerun reuses every finished run and
    evaluation and resumes the others."""
    if cfg.jobs <= 1 or len(jobs) <= 1:
        return {(j[0], j[1]): run_job(cfg, cache, regime, j, log) for j in jobs}
    import multiprocessing as mp
    import os
    import signal
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    from vssl.errors import Stopped, VsslError
    from vssl.signals import StopRequest

    ctx = mp.get_context("spawn")
    groups = ctx.Queue()
    shares = _core_groups(cfg.jobs)
    for g in shares:
        groups.put(g)
    # DataLoader workers only where a job has cores to spare: on one core a worker competes with its
    # own training step (2 cores, --quick: the runs took 160 s with 2 workers per job, 69 s with none)
    cfg = replace(cfg, workers=min(cfg.workers, max(0, min(len(g) for g in shares) - 1)))
    results: dict = {}
    pool = ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=ctx, initializer=_init_worker, initargs=(groups,))

    def forward(signum):
        if signum == signal.SIGINT:  # Ctrl-C reaches the whole process group already (twice would mean "now")
            return
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                os.kill(proc.pid, signum)
            except (OSError, AttributeError):
                pass

    try:
        with StopRequest(on_signal=forward) as stop:
            futures = {pool.submit(run_job, cfg, cache, regime, j, log): j for j in jobs}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for f in finished:
                    j = futures[f]
                    try:
                        results[j[0], j[1]] = f.result()
                    except VsslError as e:
                        if stop.requested:
                            break
                        raise e from None  # one line (the pool's remote traceback dropped)
                if stop.requested:
                    for f in pending:
                        f.cancel()
                    wait(pending)
                    raise Stopped(f"{stop.name}: the finished runs and evaluations in {cfg.out} are kept (a run cut "
                                  "short saved its checkpoint); rerun the same command to go on", stop.exit_code)
    except KeyboardInterrupt:  # a second Ctrl-C
        forward(signal.SIGKILL)
        raise Stopped(f"interrupted: the finished runs and evaluations in {cfg.out} are kept; rerun the same "
                      "command to go on", 130) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def run_science(cfg: ScienceConfig) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); writes science.json, science.md, science.png."""
    cfg.validate()
    if cfg.jobs == 0:
        cfg = replace(cfg, jobs=auto_jobs(cfg.device))
    methods = chosen_methods(cfg)
    names = [*(row_name(m, i) for i in cfg.inputs for m in methods if takes_input(cfg, m, i)),
             *(CONTROLS if cfg.controls else ())]
    # the random networks: the preset's backbone on every input, and the own backbone of a method
    # the preset gives another (VideoMAE's ViT) on the inputs that method takes
    # (the controls' inputs too: each control is compared with a random network on its own input)
    control_inputs = {c["supervised.input"] for c in CONTROLS.values()} if cfg.controls else set()
    randoms: dict[str, tuple[str, str | None]] = {row_name("random", i): (i, None) for i in INPUTS
                                                  if i in cfg.inputs or i in control_inputs}
    for i in cfg.inputs:
        for m in methods:
            b = method_backbone(cfg.preset, m)
            if b is not None and takes_input(cfg, m, i):
                randoms[row_name(f"random-{b}", i)] = (i, b)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = Log(cfg.quiet)
    t0 = time.perf_counter()
    outcomes: dict[str, dict[str, list[dict]]] = {}
    diagnostics: dict[str, dict[str, list[dict]]] = {}
    coverage: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    test_videos = 0
    for regime in cfg.regimes:
        ts = time.perf_counter()
        cache = prepare_data(cfg, regime, log)
        seconds[f"data/{regime}"] = time.perf_counter() - ts
        cov = data_diagnostics(cfg, cache, tuple(methods))
        if cov is not None:
            coverage[regime] = cov
        jobs = [job for seed in range(cfg.seeds)
                for job in [*((rn, seed, i, b) for rn, (i, b) in randoms.items()), *((n, seed, None, None) for n in names)]]
        ts = time.perf_counter()
        done = _run_jobs(cfg, cache, regime, jobs, log)
        seconds[f"{regime}/runs"] = time.perf_counter() - ts
        by: dict[str, list[dict]] = {}
        for name in [*randoms, *names]:
            by[name] = [done[name, seed][0] for seed in range(cfg.seeds)]
            if name in names:
                diagnostics.setdefault(regime, {})[name] = [done[name, seed][1] for seed in range(cfg.seeds)]
        log(f"{regime}: done")
        outcomes[regime] = by
        test_videos = len(by[row_name("random", cfg.inputs[0])][0]["r1"])
    meta = {"preset": cfg.preset, "seeds": cfg.seeds, "classes": cfg.classes, "test_videos": test_videos,
            "cameras": {r: camera_of(cfg, r) for r in cfg.regimes},
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
            "seconds": {**seconds, "total": time.perf_counter() - t0}}
    return _write(out, outcomes, meta, diagnostics, coverage, cfg.n_boot, cfg.preset)


def _write(out: Path, outcomes: dict, meta: dict, diagnostics: dict, coverage: dict, n_boot: int,
           preset: str) -> dict[str, Any]:
    summary = summarise(outcomes, n_boot=n_boot, preset=preset)
    doc = {"meta": meta, **summary, "diagnostics": diagnostics, "coverage": coverage, "outcomes": outcomes}
    atomic_write_bytes(out / RESULTS, json.dumps(doc, indent=1).encode())
    md = markdown(summary, meta, diagnostics, coverage)
    atomic_write_bytes(out / "science.md", md.encode())
    plot(summary, out / "science.png")
    return {"summary": summary, "meta": meta, "markdown": md, "files": [str(out / f) for f in
                                                                         (RESULTS, "science.md", "science.png")]}


def _load_dir(out: Path) -> tuple[dict, dict, dict]:
    """``(outcomes, diagnostics, {regime: synth.json})`` of a benchmark directory, rows in table
    order; a row keeps its seeds 0, 1, ... up to the first missing one."""
    outcomes: dict[str, dict[str, list[dict]]] = {}
    diagnostics: dict[str, dict[str, list[dict]]] = {}
    for regime in REGIMES:
        for d in sorted((out / "eval" / regime).glob("*")):
            runs = []
            while (d / f"seed{len(runs)}" / "outcomes.json").exists():
                runs.append(json.loads((d / f"seed{len(runs)}" / "outcomes.json").read_text()))
            if runs:
                outcomes.setdefault(regime, {})[d.name] = runs
                if not is_random(d.name):
                    diagnostics.setdefault(regime, {})[d.name] = [
                        training_diagnostics(out / "runs" / regime / d.name / f"seed{k}") for k in range(len(runs))]
    from vssl.methods import METHODS

    order = list(METHODS)

    def key(name: str) -> tuple:
        base, input = split_name(name)
        if name in CONTROLS:
            return (True, list(CONTROLS).index(name))
        return (False, input != "rgb", not is_random(name), base != BASELINE,
                order.index(base) if base in order else len(order), name)

    outcomes = {r: dict(sorted(by.items(), key=lambda kv: key(kv[0]))) for r, by in outcomes.items()}
    if not any(is_random(name) for by in outcomes.values() for name in by):
        raise InputError(f"{out} holds no evaluated random network (eval/<regime>/random/seed0): run the benchmark first")
    # the class count: the labels of the gallery are not in outcomes; the synth metadata has them
    synths = {r: json.loads(f.read_text()) for r in outcomes if (f := out / "data" / f"synth-{r}" / "synth.json").exists()}
    return outcomes, diagnostics, synths


def summarise_dir(out: Path, n_boot: int = 4000, preset: str = "demo", pool: tuple[Path, ...] = ()) -> dict[str, Any]:
    """``--summary-only``: the tables of every evaluation already in ``out`` (all the rows that runs
    with other ``--methods`` / ``--inputs`` / ``--seeds`` left there), without training anything.

    ``pool``: benchmark directories of replications (the same configuration on datasets of other
    ``--data-seed``s): the rows all of them hold, pooled (:func:`summarise`), written into ``out``."""
    out = Path(out)
    sources = [Path(p) for p in pool] or [out]
    loaded = [_load_dir(p) for p in sources]
    synths = [sy for _, _, sy in loaded]  # {regime: synth.json} of each directory

    def params(sy: dict, regime: str) -> dict:
        return synth_params(sy.get(regime, {}))

    if pool:
        for regime in dict.fromkeys(r for sy in synths for r in sy):
            for what in ("camera", "classes", "videos_per_class", "bias_strength", "test_fraction"):
                got = {str(params(sy, regime).get(what)) for sy in synths}
                if len(got) > 1:
                    raise InputError(f"--pool: the datasets of {regime} differ in {what} ({', '.join(sorted(got))}): "
                                     "pool replications of one configuration")
        seeds = [next((params(sy, r).get("seed") for r in sy), None) for sy in synths]
        if len(set(seeds)) < len(seeds):
            raise InputError(f"--pool: two directories hold the same dataset (data seeds {seeds}): a replication "
                             "needs another --data-seed")
        out.mkdir(parents=True, exist_ok=True)
    outcomes = [o for o, _, _ in loaded]
    synth = next(iter(synths[0].values()), {})

    def test_videos(o: dict) -> int:  # the queries of its first random network (each dir holds one)
        return len(next(row for by in o.values() for name, row in by.items() if is_random(name))[0]["r1"])

    meta = {"preset": f"{preset} (as run)",
            "seeds": max(len(r) for by in outcomes[0].values() for r in by.values()),
            "classes": len(synth.get("class_names", ())) or 1,
            "test_videos": sum(test_videos(o) for o in outcomes),
            "cameras": {r: params(synths[0], r)["camera"] for r in synths[0]}, "summary_only": True}
    if pool:
        meta.update(pooled=[str(p) for p in sources], data_seeds=seeds)
    diagnostics = loaded[0][1] if not pool else {}
    return _write(out, outcomes[0] if not pool else outcomes, meta, diagnostics, {}, n_boot, preset)
