"""Pretraining methods: one ``nn.Module`` per file, registered in ``METHODS``.

The registry key is also the CLI value (``vssl pretrain --method KEY``), the
module name and the test file name. See :mod:`vssl.methods.common` for what a
method provides.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from importlib import import_module
from typing import TYPE_CHECKING, Any

from vssl.errors import InputError

if TYPE_CHECKING:
    from torch import nn

# name -> class name in vssl/methods/<name>.py: the whole registry (adding a method is its file and one
# line here). Nothing is imported until a class is asked for, so `vssl --help` loads no torch.
_CLASSES: dict[str, str] = {
    "moco": "MoCo",
    "simclr": "SimCLR",
    "dsm": "DSM",
    "be": "BE",
    "fame": "FAME",
    "cmd": "CMD",
    "simsiam": "SimSiam",
    "byol": "BYOL",
    "barlow": "BarlowTwins",
    "vicreg": "VICReg",
    "directclr": "DirectCLR",
    "videomae": "VideoMAE",
    "mgm": "MGM",
    "vcop": "VCOP",
    "pace": "Pace",
    "rotnet3d": "RotNet3D",
    "cubic_puzzle": "CubicPuzzle",
    "supervised": "Supervised",
    "ascnet": "ASCNet",
    "corp": "CORP",
    "tec": "TEC",
    "lsfd": "LSFD",
    "mcn": "MCN",
}


class LazyRegistry(Mapping):
    """A read-only ``name -> class`` mapping whose names are known without importing anything and
    whose classes are imported on first access (``vssl.methods.<name>.<Class>``)."""

    def __init__(self, package: str, classes: Mapping[str, str]):
        self._package, self._classes, self._loaded = package, dict(classes), {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            cls = self._classes[name]  # KeyError for an unknown name, as a dict
            self._loaded[name] = getattr(import_module(f"{self._package}.{name}"), cls)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __repr__(self) -> str:
        return f"LazyRegistry({', '.join(self._classes)})"


METHODS: Mapping[str, type[nn.Module]] = LazyRegistry(__name__, _CLASSES)
"""Registry: method name -> class (``Config``, ``RECIPE``, ``PRESETS``, ``requires``, ``training_step``).
``supervised`` is a labelled control (cross-entropy), not a self-supervised method."""


def tiny_params(name: str) -> dict:
    """The fields ``METHODS[name].Config.tiny()`` (the CPU tests' settings) sets away from the
    defaults, e.g. ``{"crop": 24, "queue_size": 16}``: dotted overrides for a tiny run."""
    cfg = get_method(name).Config
    small, default = cfg.tiny(), cfg()
    return {f.name: getattr(small, f.name) for f in fields(small) if getattr(small, f.name) != getattr(default, f.name)}


def get_method(name: str) -> type[nn.Module]:
    """The class registered as ``name``; InputError listing the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}") from None


_EXPORTS = {cls: name for name, cls in _CLASSES.items()}


def __getattr__(attr: str) -> Any:
    """``from vssl.methods import MoCo`` (and ``StepOut``) import the one module asked for."""
    if attr in _EXPORTS:
        return METHODS[_EXPORTS[attr]]
    if attr == "StepOut":
        from vssl.methods.common import StepOut

        return StepOut
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ASCNet", "BE", "BYOL", "BarlowTwins", "CMD", "CubicPuzzle", "CORP", "DSM", "DirectCLR", "FAME", "LSFD", "MCN", "METHODS", "MGM", "MoCo", "Pace", "RotNet3D", "SimCLR", "SimSiam", "StepOut", "Supervised", "TEC", "VCOP", "VICReg", "VideoMAE", "get_method", "tiny_params"]
