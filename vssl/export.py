"""`vssl export`: a trained backbone as a plain state dict (``pt``), ``safetensors`` or ONNX, and
:func:`load_backbone`, the one call that reads any of them back (or a run directory).

* ``pt``: the backbone's state dict in torchvision's names (``torch.load(f, weights_only=True)``);
  it carries no architecture name, so :func:`load_backbone` takes the registered backbone whose
  names and shapes it matches.
* ``safetensors``: the same tensors, plus metadata ``vssl_backbone``, ``vssl_method``,
  ``vssl_step``, ``vssl_version``, ``vssl_clip`` and ``vssl_normalize`` (strings).
* ``onnx``: the backbone's forward, input ``clip`` ``(batch, 3, T, S, S)`` float32 normalised
  as in training (``vssl_normalize``: Kinetics mean / std by default), output ``features``
  ``(batch, feat_dim)``; the batch dimension is dynamic, ``T`` and ``S`` those of the run
  (``--clip``); the metadata above is in the model's ``metadata_props``. Needs the ``export``
  extra (``pip install vssl[export]``: onnx, onnxscript; onnxruntime to check it).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from vssl.errors import InputError

FORMATS = ("pt", "safetensors", "onnx")
SUFFIXES = {"pt": ".pt", "safetensors": ".safetensors", "onnx": ".onnx"}
ONNX_OPSET = 18


def format_of(out: str | Path, fmt: str | None) -> str:
    """The format asked for: ``fmt``, else the suffix of ``out`` (``.pt``, ``.safetensors``, ``.onnx``), else pt."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(out).suffix.lower()
    return next((f for f, s in SUFFIXES.items() if s == suffix), "pt")


def parse_clip(text: str) -> tuple[int, int]:
    """``"16x112"`` -> ``(16, 112)``: frames x crop."""
    try:
        t, s = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--clip must look like 16x112 (frames x crop), not '{text}'") from None
    if t < 1 or s < 1:
        raise InputError(f"--clip must be positive, not '{text}'")
    return t, s


def _need(module: str):
    """Import an optional package of the ``export`` extra, or say in one line how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        dist = module.split(".")[0]
        # no square brackets: the CLI prints messages through rich, which reads them as markup
        raise InputError(f"this needs the {dist} package: pip install {dist} (vssl's export extra is "
                         "onnx, onnxscript, onnxruntime and safetensors)") from None


def _trained(run_dir: Path) -> tuple[Any, dict]:
    """The run's backbone (eval mode, CPU) and facts for the metadata."""
    from vssl.eval.checkpoints import load_backbone as load_eval
    from vssl.eval.checkpoints import read_run_config
    from vssl.eval.features import input_of_config, normalization_of_config
    from vssl.eval.session import CLIP_DEFAULTS, run_clip_options
    from vssl.ops.frames import apply_input

    if not run_dir.is_dir():
        raise InputError(f"run directory not found: {run_dir}")
    if not read_run_config(run_dir):
        raise InputError(f"{run_dir} is not a vssl pretrain run (no config.yaml)")
    model, meta = load_eval(run_dir)
    config = meta.get("config") or read_run_config(run_dir)
    opts = {**{k: CLIP_DEFAULTS[k] for k in ("clip_len", "size")}, **run_clip_options(run_dir)}
    facts = {
        "backbone": meta["backbone"], "method": meta.get("method"), "step": meta.get("step"),
        "clip": (int(opts["clip_len"]), int(opts["size"])),
        "normalize": normalization_of_config(config),
        "input": input_of_config(config),
    }
    return apply_input(model, facts["input"]), facts  # an ONNX model of a diff run takes frames


def _metadata(facts: dict) -> dict[str, str]:
    from vssl import __version__

    t, s = facts["clip"]
    return {"vssl_backbone": str(facts["backbone"]), "vssl_method": str(facts["method"]),
            "vssl_step": str(facts["step"]), "vssl_version": __version__, "vssl_clip": f"{t}x{s}",
            "vssl_normalize": str(facts["normalize"]), "vssl_input": str(facts["input"])}


def export_run(run_dir: str | Path, out: str | Path, fmt: str | None = None, *,
               clip: tuple[int, int] | None = None) -> dict:
    """Export the trained backbone of a ``vssl pretrain`` run directory.

    Args:
        run_dir: the run directory.
        out: the file to write (replaced atomically).
        fmt: ``pt``, ``safetensors`` or ``onnx``; default from ``out``'s suffix, else ``pt``.
        clip: ONNX only: ``(frames, crop)`` of the traced input; default the run's clip.

    Returns:
        ``{"backbone", "method", "step", "out", "format", ...}`` (``tensors`` for state dicts,
        ``clip`` for ONNX).

    Raises:
        InputError: no such run, an unknown format, a missing optional package.
        CacheError: no checkpoint yet, or one that does not fit the backbone.
    """
    run_dir, out = Path(run_dir), Path(out)
    fmt = format_of(out, fmt)
    if fmt == "pt":
        from vssl.train.loop import export_backbone

        return {**export_backbone(run_dir, out), "format": "pt"}
    if fmt == "safetensors":
        st = _need("safetensors.torch")
        model, facts = _trained(run_dir)
        from vssl.models import backbone_state_dict
        from vssl.utils.fs import atomic_write_bytes

        state = {k: v.detach().contiguous() for k, v in backbone_state_dict(model).items()}
        atomic_write_bytes(out, st.save(state, metadata=_metadata(facts)))
        return {"backbone": facts["backbone"], "method": facts["method"], "step": facts["step"], "out": str(out),
                "format": fmt, "tensors": len(state)}
    return _export_onnx(run_dir, out, clip)


def _export_onnx(run_dir: Path, out: Path, clip: tuple[int, int] | None) -> dict:
    _need("onnx")
    _need("onnxscript")
    model, facts = _trained(run_dir)
    if clip is not None:
        facts["clip"] = (int(clip[0]), int(clip[1]))
    t, s = facts["clip"]
    export_onnx(model, out, (t, s), _metadata(facts), name=facts["backbone"])
    return {"backbone": facts["backbone"], "method": facts["method"], "step": facts["step"], "out": str(out),
            "format": "onnx", "clip": f"{t}x{s}", "input": f"(batch, 3, {t}, {s}, {s})"}


def export_onnx(model, out: str | Path, clip: tuple[int, int], metadata: dict[str, str] | None = None, *,
                name: str = "backbone") -> None:
    """Write ``model`` (clips -> features) as ONNX with a dynamic batch dimension.

    Args:
        model: an ``nn.Module`` taking ``(B, 3, T, S, S)``; put in eval mode here.
        out: the ``.onnx`` file (one file, weights inside; replaced atomically).
        clip: ``(T, S)`` of the traced input.
        metadata: string pairs stored in the model's ``metadata_props``.
        name: for the error message.

    Raises:
        InputError: onnx / onnxscript missing, or the exporter fails (one line).
    """
    _need("onnx")
    _need("onnxscript")
    import os
    import tempfile
    import warnings

    import onnx
    import torch

    from vssl.utils.fs import atomic_write_bytes

    out = Path(out)
    t, s = clip
    model = model.eval()
    x = torch.zeros(2, 3, t, s, s)  # batch 2: torch.export specialises a batch of 1
    batch = torch.export.Dim("batch", min=1, max=4096)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, (x,), tmp, input_names=["clip"], output_names=["features"],
                                  dynamic_shapes=({0: batch},), dynamo=True, external_data=False,
                                  opset_version=ONNX_OPSET)
            except Exception as e:
                msg = str(e).strip().splitlines()
                raise InputError(f"ONNX export of backbone '{name}' at {t}x{s} failed: "
                                 f"{type(e).__name__}: {msg[0][:200] if msg else ''}") from None
        proto = onnx.load(tmp)
        for k, v in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        atomic_write_bytes(out, proto.SerializeToString())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_backbone(path: str | Path, backbone: str | None = None):
    """A trained backbone, ready to use: ``vssl.load_backbone("runs/dsm")``.

    Args:
        path: a ``vssl pretrain`` run directory (or one of its checkpoints), or a file of ``vssl
            export``: ``.pt`` or ``.safetensors``.
        backbone: the architecture, when it cannot be told (a ``.pt`` export of a backbone whose
            tensors another one shares); by default from the run's config, the safetensors
            metadata, or the registered backbone the tensors match.

    Returns:
        The ``nn.Module`` in eval mode on the CPU: clips ``(B, 3, T, H, W)`` (normalised as in
        training) -> features ``(B, model.feat_dim)``; for a run trained with ``data.input=diff``
        it takes the frames and differences them itself (a ``.pt`` export holds the bare weights).

    Raises:
        InputError: a missing path, an ONNX file (use onnxruntime), weights of no registered backbone.
    """
    p = Path(path)
    if p.suffix.lower() == ".onnx":
        raise InputError(f"{p} is an ONNX model: run it with onnxruntime.InferenceSession, not load_backbone")
    if p.suffix.lower() == ".safetensors" and p.is_file():
        return _load_safetensors(p, backbone)
    from vssl.eval.checkpoints import load_backbone as load_eval
    from vssl.eval.checkpoints import read_run_config

    if backbone is None and p.is_file() and not read_run_config(p.parent):
        backbone = _guess(p)
    model, meta = load_eval(p, backbone)
    from vssl.eval.features import input_of_config
    from vssl.ops.frames import apply_input

    return apply_input(model, input_of_config(meta.get("config") or {}))


def _guess(p: Path) -> str | None:
    """The registered backbone an exported ``.pt`` state dict matches (None: let the loader say why)."""
    import torch

    from vssl.eval.checkpoints import guess_backbone

    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception:
        return None  # the loader gives the one-line reason
    return guess_backbone(sd) if isinstance(sd, dict) else None


def _load_safetensors(p: Path, backbone: str | None):
    st = _need("safetensors.torch")
    safe_open = _need("safetensors").safe_open
    from vssl.eval.checkpoints import check_finite
    from vssl.models import build_backbone

    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
        sd = st.load_file(str(p))
    except Exception as e:
        raise InputError(f"{p} is not a readable safetensors file ({type(e).__name__})") from None
    name = backbone or meta.get("vssl_backbone")
    if not name:
        from vssl.eval.checkpoints import guess_backbone

        name = guess_backbone(sd)
    if not name:
        raise InputError(f"{p} names no backbone (no vssl_backbone metadata) and matches none: pass backbone=")
    model = build_backbone(name)
    check_finite(sd, f"{p}")
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise InputError(f"{p} does not hold a '{name}' backbone: {str(e).splitlines()[0][:200]}") from None
    from vssl.ops.frames import apply_input

    return apply_input(model.eval(), "diff" if meta.get("vssl_input") == "diff" else "rgb")
