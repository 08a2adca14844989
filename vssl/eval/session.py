"""One evaluation: the weights, the cache and split, the eval directory, and the clip options of ``vssl eval``.

An :class:`EvalSession` loads the backbone (:func:`vssl.eval.checkpoints.load_backbone`), locks
the cache (shared) and ``EVAL_DIR`` (exclusive), refuses an ``EVAL_DIR`` holding results of other
weights, another cache or split (:func:`check_eval_dir`), and computes the clip features of a
subset once, cached in ``EVAL_DIR/features`` (:mod:`vssl.eval.features`). :func:`clip_options`
resolves the clip options of a command from the given values, a preset and the run's config.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vssl.errors import InputError
from vssl.eval.features import (
    FeatureOptions,
    FeatureSet,
    Runtime,
    compute_features,
    features_key,
    input_of_config,
    load_features,
    normalization_of_config,
    save_features,
)


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
