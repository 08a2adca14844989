"""Pretraining methods: one ``nn.Module`` per file, registered in ``METHODS``.

The registry key is also the CLI value (``vssl pretrain --method KEY``), the
module name and the test file name. See :mod:`vssl.methods.common` for what a
method provides.
"""

from __future__ import annotations

from dataclasses import fields

from torch import nn

from vssl.errors import InputError
from vssl.methods.ascnet import ASCNet
from vssl.methods.barlow import BarlowTwins
from vssl.methods.be import BE
from vssl.methods.byol import BYOL
from vssl.methods.cmd import CMD
from vssl.methods.common import StepOut
from vssl.methods.cubic_puzzle import CubicPuzzle
from vssl.methods.corp import CORP
from vssl.methods.directclr import DirectCLR
from vssl.methods.dsm import DSM
from vssl.methods.fame import FAME
from vssl.methods.lsfd import LSFD
from vssl.methods.mcn import MCN
from vssl.methods.mgm import MGM
from vssl.methods.moco import MoCo
from vssl.methods.pace import Pace
from vssl.methods.rotnet3d import RotNet3D
from vssl.methods.simclr import SimCLR
from vssl.methods.simsiam import SimSiam
from vssl.methods.supervised import Supervised
from vssl.methods.tec import TEC
from vssl.methods.vcop import VCOP
from vssl.methods.vicreg import VICReg
from vssl.methods.videomae import VideoMAE

METHODS: dict[str, type[nn.Module]] = {
    "moco": MoCo,
    "simclr": SimCLR,
    "dsm": DSM,
    "be": BE,
    "fame": FAME,
    "cmd": CMD,
    "simsiam": SimSiam,
    "byol": BYOL,
    "barlow": BarlowTwins,
    "vicreg": VICReg,
    "directclr": DirectCLR,
    "videomae": VideoMAE,
    "mgm": MGM,
    "vcop": VCOP,
    "pace": Pace,
    "rotnet3d": RotNet3D,
    "cubic_puzzle": CubicPuzzle,
    "supervised": Supervised,
    "ascnet": ASCNet,
    "corp": CORP,
    "tec": TEC,
    "lsfd": LSFD,
    "mcn": MCN,
}
"""Registry: method name -> class (``Config``, ``RECIPE``, ``requires``, ``training_step``).
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


__all__ = ["ASCNet", "BE", "BYOL", "BarlowTwins", "CMD", "CubicPuzzle", "CORP", "DSM", "DirectCLR", "FAME", "LSFD", "MCN", "METHODS", "MGM", "MoCo", "Pace", "RotNet3D", "SimCLR", "SimSiam", "StepOut", "Supervised", "TEC", "VCOP", "VICReg", "VideoMAE", "get_method", "tiny_params"]
