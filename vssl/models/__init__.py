"""Models: video backbones (``BACKBONES``), projection heads, momentum encoder and queue."""

from __future__ import annotations

from vssl.models.backbones import (
    BACKBONES,
    C3D,
    TinyNet,
    backbone_state_dict,
    build_backbone,
    to_channels_last_3d,
)
from vssl.models.heads import MLPHead, Queue, copy_to_momentum, momentum_update

__all__ = [
    "BACKBONES",
    "C3D",
    "MLPHead",
    "Queue",
    "TinyNet",
    "backbone_state_dict",
    "build_backbone",
    "copy_to_momentum",
    "momentum_update",
    "to_channels_last_3d",
]
