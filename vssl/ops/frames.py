"""What the backbone sees: the normalised frames (``rgb``) or their temporal differences (``diff``).

``diff`` (residual frames, a motion-only input: a static scene cancels) is the input of
Tao, Wang and Yamasaki's residual-frame networks ("Rethinking Motion Representation:
Residual Frames with 3D ConvNets", 2020) and of one view of their IIC (ACM MM 2020).
In vssl it is a named option of every method (``data.input``), never a default: the
papers' methods see RGB frames.
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import Tensor, nn

Input = Literal["rgb", "diff"]
"""What the backbone sees (``data.input``, ``supervised.input``)."""
INPUTS = get_args(Input)


def frame_differences(x: Tensor) -> Tensor:
    """(B, C, T, H, W) -> (B, C, T - 1, H, W): ``x[:, :, t + 1] - x[:, :, t]``."""
    return x[:, :, 1:] - x[:, :, :-1]


def _diff_hook(_module: nn.Module, args: tuple) -> tuple:
    return (frame_differences(args[0]), *args[1:])


def apply_input(backbone: nn.Module, input: str) -> nn.Module:
    """Make ``backbone`` see ``input``: for ``diff`` a forward pre-hook replaces its clip by the
    clip's frame differences (the weights and their names are unchanged, so checkpoints load into
    a plain backbone; evaluation feeds differences itself, see ``vssl.eval.features``)."""
    if input not in INPUTS:
        raise ValueError(f"input must be one of {', '.join(INPUTS)}, got {input!r}")
    if input == "diff":
        backbone.register_forward_pre_hook(_diff_hook)
    return backbone
