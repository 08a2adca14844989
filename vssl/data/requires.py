"""What a pretraining method asks the data layer for: one frozen :class:`Requires`.

A method's ``requires`` property returns one; :class:`vssl.data.dataset.ClipDataset` and
:func:`vssl.data.synthetic.synthetic_batch` load exactly that. Field values are checked when
the object is made, so a method with an impossible request fails at construction with one
ValueError naming the field, never inside a DataLoader worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from vssl.utils.typed import check_choices

MvSampling = Literal["reference", "legacy"]
MvUnits = Literal["load", "source"]
KeyframePick = Literal["window", "nearest"]
MvWindow = Literal["future", "clip"]


def _int(x: Any) -> bool:
    import numpy as np

    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


@dataclass(frozen=True)
class Requires:
    """The data a method needs per video sample (see the sample layout in :mod:`vssl.data.dataset`)."""

    views: int = 2  # clips of one video at different start times
    clip_factor: int = 1  # each view loads clip_len * clip_factor frames (at the stride): a long clip the
    #                       method cuts, subsamples or reverses itself (two speeds, long / short views)
    neg_clip: bool = False  # an intra-video negative from another segment (BE, DSM)
    keyframe: bool = False  # a keyframe near the clip (CMD)
    keyframe_pick: KeyframePick = "window"  # CMD: "window" = uniform among I-frames within keyframe_margin of the
    #                                clip (reference); "nearest" = the one nearest the clip centre (legacy)
    keyframe_margin: int = 5  # frames either side of the clip ("window")
    mv: bool = False  # motion vectors (CMD: the near future; MGM: the clip span, mv_window)
    mv_len: int = 16  # motion-vector frames of the future window
    mv_gap: int = 0  # frames skipped between the clip's last frame and the future window (CMD reference: 2)
    mv_negatives: int = 0  # extra motion-vector clips of other segments (CMD: 3)
    mv_sampling: MvSampling = "reference"  # CMD windows: "reference" or "legacy", see ClipDataset
    mv_units: MvUnits = "load"  # "load" = pixels of the load-size frame, "source" = pixels of the source video
    mv_window: MvWindow = "future"  # "future": the window after the clip (CMD); "clip": every frame of the clip (MGM)
    fame: bool = False  # FAME foreground masks (loaded only with fame_masks="cache")
    static: bool = False  # BE static frame (loaded only with static_frames="cache")
    view_gap: int = -1  # -1: views at independent random starts; >= 0: the views are one tuple of consecutive
    #                    clips in temporal order, this many frames apart (VCOP: 8); see ClipDataset
    speeds: tuple[int, ...] = (1,)  # each view's stride is data.stride x a factor drawn from these (Pace: 1..4)
    wrap: bool = False  # a view starts anywhere and restarts at frame 0 past the last frame (Pace)

    def __post_init__(self) -> None:
        speeds = self.speeds if isinstance(self.speeds, (list, tuple)) else (self.speeds,)
        if not speeds or any(not _int(x) or x < 1 for x in speeds):
            raise ValueError(f"speeds must be integers >= 1, got {self.speeds!r}")
        object.__setattr__(self, "speeds", tuple(int(x) for x in speeds))
        if not _int(self.views) or self.views < 1:
            raise ValueError(f"views must be an integer >= 1, got {self.views!r}")
        if not _int(self.clip_factor) or self.clip_factor < 1:
            raise ValueError(f"clip_factor must be an integer >= 1, got {self.clip_factor!r}")
        check_choices(self, "")
        for key in ("mv_len", "mv_gap", "mv_negatives", "keyframe_margin"):
            if not _int(getattr(self, key)) or getattr(self, key) < 0:
                raise ValueError(f"{key} must be an integer >= 0, got {getattr(self, key)!r}")
        if not _int(self.view_gap) or self.view_gap < -1:
            raise ValueError(f"view_gap must be -1 (independent views) or a number of frames >= 0, got {self.view_gap!r}")
        if self.view_gap >= 0 and self.speed_sampling:
            raise ValueError("view_gap (a tuple of consecutive clips) cannot be combined with speeds or wrap")

    @classmethod
    def of(cls, requires: Requires | Mapping[str, Any] | None) -> Requires:
        """``requires`` as a :class:`Requires` (a mapping of field names, e.g. from a config; None = defaults);
        an unknown key raises ValueError."""
        if isinstance(requires, Requires):
            return requires
        known = {f.name for f in fields(cls)}
        given = dict(requires or {})
        bad = [k for k in given if k not in known]
        if bad:
            raise ValueError(f"unknown requirement {bad[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**given)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The inputs of a sample besides labels: ``("rgb",)``, plus ``"keyframe"`` and ``"mv"`` when asked."""
        return ("rgb",) + (("keyframe",) if self.keyframe else ()) + (("mv",) if self.mv else ())

    @property
    def speed_sampling(self) -> bool:
        """Whether views are drawn at varying speeds or wrap around (Pace): the sample carries ``speed``."""
        return self.speeds != (1,) or self.wrap
