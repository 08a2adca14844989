"""vssl.data.requires.Requires: one frozen declaration of what a method's samples carry."""

from __future__ import annotations

import dataclasses

import pytest

from vssl.data.requires import Requires


def test_defaults_mapping_and_frozen():
    r = Requires()
    assert r.views == 2 and r.clip_factor == 1 and r.speeds == (1,) and not r.speed_sampling
    assert Requires.of(None) == r and Requires.of(r) is r
    assert Requires.of({"views": 1, "speeds": [1, 2]}) == Requires(views=1, speeds=(1, 2))
    assert Requires(speeds=3).speeds == (3,) and Requires(wrap=True).speed_sampling
    assert Requires.of(Requires(views=3, view_gap=1).as_dict()) == Requires(views=3, view_gap=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.views = 3


def test_modalities():
    assert Requires().modalities == ("rgb",)
    assert Requires(keyframe=True, mv=True).modalities == ("rgb", "keyframe", "mv")
    assert Requires(mv=True, mv_window="clip").modalities == ("rgb", "mv")


@pytest.mark.parametrize("bad, msg", [
    ({"views": 0}, "views must be an integer >= 1"),
    ({"views": True}, "views must be an integer >= 1"),
    ({"clip_factor": 1.5}, "clip_factor must be an integer >= 1"),
    ({"mv_units": "metres"}, "mv_units must be one of load, source"),
    ({"mv_window": "past"}, "mv_window must be one of future, clip"),
    ({"mv_gap": -1}, "mv_gap must be an integer >= 0"),
    ({"keyframe_margin": -2}, "keyframe_margin must be an integer >= 0"),
    ({"view_gap": -2}, "view_gap must be -1"),
    ({"view_gap": 1, "wrap": True}, "cannot be combined"),
    ({"speeds": ()}, "speeds must be integers >= 1"),
    ({"nonsense": 1}, "unknown requirement 'nonsense'"),
])
def test_bad_values_name_the_field(bad, msg):
    with pytest.raises(ValueError, match=msg):
        Requires.of(bad)
