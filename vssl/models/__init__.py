"""Models: video backbones (``BACKBONES``), projection heads, momentum encoder and queue.

The names are imported on first use, so that ``vssl.models.specs`` (the backbone facts the CLI
help shows) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BACKBONES": "vssl.models.backbones",
    "C3D": "vssl.models.backbones",
    "TinyNet": "vssl.models.backbones",
    "backbone_state_dict": "vssl.models.backbones",
    "build_backbone": "vssl.models.backbones",
    "to_channels_last_3d": "vssl.models.backbones",
    "MLPHead": "vssl.models.heads",
    "Queue": "vssl.models.heads",
    "copy_to_momentum": "vssl.models.heads",
    "momentum_update": "vssl.models.heads",
    "BACKBONE_SPECS": "vssl.models.specs",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'vssl.models' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
