"""Load a backbone to evaluate: an exported state dict, a pretraining run directory, or random weights.

Three sources (:func:`load_backbone`):

* an exported backbone (``vssl export RUN --out backbone.pt``): a plain state
  dict in the backbone's own names; its architecture is not recorded in the
  file, so ``backbone`` names it (default ``r3d_18``);
* a run directory of ``vssl pretrain``: ``config.yaml`` names the backbone
  (``backbone: r3d_18`` or ``backbone: {name: r3d_18, ...}``) and the newest
  checkpoint file under the directory (``*.pt``, ``*.pth``, ``*.ckpt``; by
  modification time, then by the step number in the name) holds its weights;
* ``random_init``: the registered backbone with freshly drawn weights (seeded),
  the baseline every method should beat.

A checkpoint is a (possibly nested) dict. The backbone's tensors are found
without knowing the trainer's layout: every flat tensor dict inside it (at the
top, or under ``state_dict`` / ``model`` / ``backbone`` / ``encoder_q`` /
``encoder`` ... up to 4 levels deep) is searched for a key prefix under which
the built model's keys appear (``backbone.``, ``encoder_q.``, ``encoder.``,
``model.backbone.``, none, ...), after stripping ``module.`` (DDP) and
``_orig_mod.`` (``torch.compile``). Among equally good prefixes the query /
online encoder wins over a momentum (key, EMA, target) copy.

Weights of another architecture are refused with one line naming both (the
closest registered backbone is guessed from the key names and shapes). So is every
other bad file, in one line naming it: empty, text, truncated, a zip of something else,
NaN / infinite weights, a layout written by a newer vssl, and a file that pickles Python
objects beyond tensors (unpickling could run code: ``VSSL_TRUST_CHECKPOINTS=1`` allows it).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from vssl.errors import InputError

DEFAULT_BACKBONE = "r3d_18"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
CONTAINER_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "backbone", "encoder_q", "encoder",
                  "online", "net", "module", "student", "state")
"""Dict keys looked into, in this order, when searching a checkpoint for tensors."""
PREFERRED_PREFIXES = ("", "backbone.", "encoder_q.", "encoder.", "model.backbone.", "model.encoder_q.",
                      "model.encoder.", "online.backbone.", "query_encoder.", "net.", "model.")
"""Key prefixes tried first (in this order) when several match the model equally well."""
_MOMENTUM_WORDS = ("encoder_k", "momentum", "key_", "ema", "target", "teacher", "_k.")
_WRAPPER_RE = re.compile(r"(^|\.)(?:module|_orig_mod)\.")
_MIN_MATCH = 0.999  # fraction of the model's tensors that must be found with the right shape


@dataclass
class LoadedBackbone:
    """What :func:`load_backbone` found (also returned as a plain dict, ``meta``)."""

    backbone: str
    source: str  # "random_init" | "exported" | "run_dir"
    path: str | None
    checkpoint: str | None
    prefix: str | None
    fingerprint: str
    ignored_keys: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    step: int | None = None
    epoch: int | None = None

    def as_dict(self) -> dict[str, Any]:
        cfg = self.config or {}
        return {
            "backbone": self.backbone,
            "source": self.source,
            "path": self.path,
            "checkpoint": self.checkpoint,
            "prefix": self.prefix,
            "fingerprint": self.fingerprint,
            "ignored_keys": self.ignored_keys[:20],
            "n_ignored_keys": len(self.ignored_keys),
            "method": config_name(cfg.get("method")),
            "step": self.step,
            "epoch": self.epoch,
            "config": cfg,
        }


def config_name(v: Any) -> str | None:
    """``"moco"`` from ``"moco"`` or ``{"name": "moco", ...}``; None otherwise."""
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        for k in ("name", "type", "arch"):
            if isinstance(v.get(k), str):
                return v[k]
    return None


def read_run_config(run_dir: Path) -> dict:
    """The resolved config of a pretraining run (:func:`vssl.io.rundir.read_run_config`); {} if none."""
    from vssl.io.rundir import read_run_config as read

    return read(run_dir) or {}


def _step_in_name(p: Path) -> int:
    nums = re.findall(r"\d+", p.stem)
    return int(nums[-1]) if nums else -1


def find_checkpoint(run_dir: Path) -> Path:
    """The newest checkpoint file under ``run_dir`` (by mtime, then step number in the name).

    Files under ``features/`` and ``finetune/`` (evaluation outputs) are skipped.
    """
    run_dir = Path(run_dir)
    found = [
        p for p in run_dir.rglob("*")
        if p.suffix in CHECKPOINT_SUFFIXES and p.is_file() and not p.name.startswith(".")
        and not {"features", "finetune"} & set(p.relative_to(run_dir).parts[:-1]) and ".tmp" not in p.name
    ]
    if not found:
        raise InputError(f"no checkpoint (*.pt, *.pth, *.ckpt) under run directory {run_dir}")
    return max(found, key=lambda p: (p.stat().st_mtime_ns, _step_in_name(p), p.name))


def _first_sentence(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text.split(". ")[0][:200]


def _torch_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; every failure is one line naming the file.

    A file that pickles Python objects beyond tensors and plain types (numpy scalars,
    dataclasses of other trainers) is refused: unpickling it could run code. With
    ``VSSL_TRUST_CHECKPOINTS=1`` such a file, if the user trusts it, is unpickled in full.
    """
    import pickle

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise InputError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    if size == 0:
        raise InputError(f"cannot load checkpoint {path}: it is empty (0 bytes): an interrupted copy or download?")
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        shown = head.decode("latin-1").encode("unicode_escape").decode()[:8]
        raise InputError(f"cannot load checkpoint {path}: not a PyTorch file (neither a torch zip archive nor a pickle; "
                         f"starts with '{shown}')")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if os.environ.get("VSSL_TRUST_CHECKPOINTS") != "1":
            what = re.search(r"(?:GLOBAL|global) ([\w.]+)", str(e))
            detail = f" ({what.group(1)})" if what else ""
            raise InputError(
                f"cannot load checkpoint {path}: it pickles Python objects beyond tensors{detail}, and loading "
                "them could run code; "
                "if you trust the file, rerun with VSSL_TRUST_CHECKPOINTS=1, or export the weights with "
                "`vssl export`") from None
    except Exception as e:  # truncated, a zip of something else, a foreign format
        raise InputError(f"cannot load checkpoint {path}: {_first_sentence(e)} (truncated or not a torch "
                         "checkpoint?)") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise InputError(f"cannot load checkpoint {path}: {_first_sentence(e)}") from None


def check_finite(state: Mapping[str, Tensor], origin: str) -> None:
    """Refuse weights holding NaN or infinity (one line: how many tensors, the first one)."""
    bad = [k for k, v in state.items() if isinstance(v, Tensor) and v.is_floating_point() and v.numel()
           and not bool(torch.isfinite(v).all())]
    if bad:
        raise InputError(f"{origin} holds NaN or infinite values in {len(bad)} of {len(state)} tensors "
                         f"(e.g. '{bad[0]}'): a diverged or damaged run; use an earlier checkpoint")


def _strip_wrappers(key: str) -> str:
    """``module.`` (DDP) and ``_orig_mod.`` (torch.compile) removed wherever they sit in ``key``."""
    return _WRAPPER_RE.sub(r"\1", key)


def tensor_dicts(obj: Any, path: str = "", depth: int = 0) -> list[tuple[str, dict[str, Tensor]]]:
    """Every dict of tensors inside ``obj`` (nested dicts up to 4 levels), with where it was.

    A dict counts when at least half of its values are tensors (buffers and a
    few scalars may sit beside them); its tensor entries are kept.
    """
    out: list[tuple[str, dict[str, Tensor]]] = []
    if not isinstance(obj, Mapping) or depth > 4:
        return out
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if tensors and len(tensors) * 2 >= len(obj):
        out.append((path or "<top>", tensors))
    keys = [k for k in CONTAINER_KEYS if k in obj] + [k for k in obj if k not in CONTAINER_KEYS]
    for k in keys:
        v = obj[k]
        if isinstance(v, Mapping):
            out += tensor_dicts(v, f"{path}.{k}" if path else str(k), depth + 1)
    return out


@dataclass
class _Match:
    where: str
    prefix: str
    state: dict[str, Tensor]
    found: int  # model tensors present with the right shape
    wrong_shape: list[str]
    missing: list[str]
    extra: list[str]  # keys under the prefix the model does not have

    def score(self) -> tuple:
        p = self.prefix
        momentum = any(w in p for w in _MOMENTUM_WORDS) or any(w in self.where for w in _MOMENTUM_WORDS)
        pref = PREFERRED_PREFIXES.index(p) if p in PREFERRED_PREFIXES else len(PREFERRED_PREFIXES)
        return (self.found, -len(self.wrong_shape), not momentum, -pref, -len(p))


def match_state(sd: Mapping[str, Tensor], model_sd: Mapping[str, Tensor], where: str = "<top>") -> _Match | None:
    """The best prefix of ``sd`` under which ``model_sd``'s keys appear (None if none does)."""
    flat = {_strip_wrappers(k): v for k, v in sd.items()}
    mkeys = list(model_sd)
    prefixes: dict[str, int] = {}
    for k in flat:
        for mk in mkeys:
            if k == mk:
                prefixes[""] = prefixes.get("", 0) + 1
            elif k.endswith("." + mk):
                p = k[: len(k) - len(mk)]
                prefixes[p] = prefixes.get(p, 0) + 1
    best: _Match | None = None
    for p in prefixes:
        sub = {k[len(p):]: v for k, v in flat.items() if k.startswith(p)}
        wrong = [k for k in mkeys if k in sub and tuple(sub[k].shape) != tuple(model_sd[k].shape)]
        missing = [k for k in mkeys if k not in sub]
        found = len(mkeys) - len(missing) - len(wrong)
        extra = [k for k in sub if k not in model_sd]
        m = _Match(where, p, sub, found, wrong, missing, extra)
        if best is None or m.score() > best.score():
            best = m
    return best


def _required(keys: list[str]) -> list[str]:
    """Keys that must be present: all but BN's ``num_batches_tracked`` counters."""
    return [k for k in keys if not k.endswith("num_batches_tracked")]


def guess_backbone(sd: Mapping[str, Tensor], exclude: str | None = None) -> str | None:
    """The registered backbone whose state dict ``sd`` matches best (keys and shapes), or None."""
    from vssl.models import BACKBONES, build_backbone

    best, best_frac = None, 0.0
    for name in BACKBONES:
        if name == exclude:
            continue
        try:
            with torch.device("meta"):
                ref = build_backbone(name).state_dict()
        except Exception:
            continue
        m = match_state(sd, ref)
        if m is None:
            continue
        req = _required(list(ref))
        frac = sum(1 for k in req if k in m.state and tuple(m.state[k].shape) == tuple(ref[k].shape)) / max(len(req), 1)
        if frac > best_frac:
            best, best_frac = name, frac
    return best if best_frac >= 0.9 else None


def extract_backbone_state(obj: Any, model: nn.Module, name: str, origin: str) -> _Match:
    """Find ``model``'s tensors in a loaded checkpoint ``obj`` (see the module docstring).

    Raises:
        InputError: nothing in ``obj`` fits ``model`` (another backbone: both are named).
    """
    model_sd = model.state_dict()
    req = set(_required(list(model_sd)))
    dicts = tensor_dicts(obj)
    if not dicts:
        raise InputError(f"{origin} holds no tensors (not a state dict or a training checkpoint)")
    best: _Match | None = None
    for where, sd in dicts:
        m = match_state(sd, model_sd, where)
        if m is not None and (best is None or m.score() > best.score()):
            best = m
    ok = best is not None and not best.wrong_shape and not (req & set(best.missing))
    if ok:
        return best
    # Another architecture? Name it when the keys tell.
    biggest = max(dicts, key=lambda d: len(d[1]))[1]
    other = guess_backbone(biggest, exclude=name)
    detail = ""
    if best is not None:
        bad = best.wrong_shape[:1] or sorted(req & set(best.missing))[:1]
        detail = (f": {len(best.wrong_shape)} tensors of another shape, "
                  f"{len(req & set(best.missing))} missing (e.g. '{bad[0]}')") if bad else ""
    else:
        detail = ": none of its tensor names fits"
    if other:
        raise InputError(f"{origin} holds a '{other}' backbone, not '{name}'{detail}; pass --backbone {other}")
    raise InputError(f"{origin} does not hold a '{name}' backbone{detail}")


def state_fingerprint(sd: Mapping[str, Tensor]) -> str:
    """blake2b of the names, dtypes, shapes and bytes of a state dict (16 bytes, hex)."""
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _build(name: str) -> nn.Module:
    from vssl.models import build_backbone

    return build_backbone(name)


def load_backbone(
    checkpoint: str | Path | None,
    backbone: str | None = None,
    *,
    random_init: bool = False,
    seed: int = 0,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build a backbone and load the weights to evaluate.

    Args:
        checkpoint: an exported state dict file, a run directory of ``vssl
            pretrain``, a checkpoint file of such a run, or None with ``random_init``.
        backbone: a key of :data:`vssl.models.BACKBONES`. For a run directory
            the config names it (a different name here is an error); for a
            file it defaults to ``r3d_18`` unless a ``config.yaml`` lies next to it.
        random_init: evaluate freshly initialised weights (``checkpoint`` must be None).
        seed: seed of the random initialisation (the same seed, the same weights).

    Returns:
        ``(model, meta)``: the backbone in eval mode on the CPU, mapping
        ``(B, 3, T, H, W)`` to ``(B, model.feat_dim)``; ``meta`` a JSON-able dict
        (``backbone``, ``source``, ``path``, ``checkpoint``, ``prefix`` (the key
        prefix the weights were under), ``fingerprint`` (hash of the weights),
        ``method``, ``step``, ``epoch``, ``config``, ``ignored_keys``).

    Raises:
        InputError: no checkpoint and no ``random_init`` (or both), a missing
            path, an unreadable file, weights of another backbone.
    """
    if random_init:
        if checkpoint is not None:
            raise InputError("give --checkpoint or --random-init, not both")
        name = backbone or DEFAULT_BACKBONE
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build(name)
        info = LoadedBackbone(name, "random_init", None, None, None, state_fingerprint(model.state_dict()),
                              config={"method": "random_init", "backbone": name, "seed": seed})
        return model.eval(), info.as_dict()
    if checkpoint is None:
        raise InputError("give --checkpoint RUN_DIR_OR_FILE (a pretraining run or an exported backbone), "
                         "or --random-init")
    path = Path(checkpoint)
    if not path.exists():
        raise InputError(f"checkpoint not found: {path}")
    if path.is_dir():
        cfg = read_run_config(path)
        if not cfg and not any(path.glob("*.yaml")):
            # Still allow a directory with checkpoints only, as long as --backbone names the model.
            pass
        file = find_checkpoint(path)
        source = "run_dir"
    else:
        cfg = read_run_config(path.parent)
        file = path
        source = "run_dir" if cfg else "exported"
    cfg_name = config_name(cfg.get("backbone")) if cfg else None
    if cfg_name and backbone and backbone != cfg_name:
        raise InputError(f"run {path} was trained with backbone '{cfg_name}', not '{backbone}' (--backbone)")
    name = backbone or cfg_name or DEFAULT_BACKBONE
    model = _build(name)
    obj = _torch_load(file)
    origin = f"checkpoint {file}"
    written_by = obj.get("vssl_version") if isinstance(obj, Mapping) else None
    try:
        m = extract_backbone_state(obj, model, name, origin)
    except InputError as e:
        from vssl.train.checkpoint import newer_than_this

        if newer_than_this(written_by):
            from vssl import __version__

            raise InputError(f"{e} (it was written by vssl {written_by}, newer than this vssl {__version__}: "
                             "upgrade vssl)") from None
        raise
    check_finite(m.state, origin)
    state = {k: v for k, v in m.state.items() if k in model.state_dict()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:  # extract_backbone_state guarantees neither; guard against surprises
        raise InputError(f"{origin}: cannot load into '{name}' (missing {missing[:2]}, unexpected {unexpected[:2]})")
    step = epoch = None
    if isinstance(obj, Mapping):
        for k in ("step", "global_step"):
            if isinstance(obj.get(k), int):
                step = int(obj[k])
                break
        if isinstance(obj.get("epoch"), int):
            epoch = int(obj["epoch"])
    ignored = [m.prefix + k for k in m.extra]
    info = LoadedBackbone(name, source, str(path.resolve()), str(Path(file).resolve()),
                          f"{m.where}:{m.prefix}" if m.where != "<top>" else m.prefix,
                          state_fingerprint(model.state_dict()), ignored, cfg, step, epoch)
    return model.eval(), info.as_dict()
