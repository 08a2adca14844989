"""Every method brings its CPU-test settings: ``Config.tiny()`` (used by the method and training tests)."""

from __future__ import annotations

import pytest

from vssl.methods import METHODS, tiny_params


@pytest.mark.parametrize("name", sorted(METHODS))
def test_tiny_config_is_a_small_valid_config(name):
    cfg = METHODS[name].Config
    small = cfg.tiny()
    assert isinstance(small, cfg)
    assert getattr(small, "crop", 24) <= 32  # tiny crops: the tests' frames are 32 x 40
    assert tiny_params(name) and all(getattr(small, k) == v for k, v in tiny_params(name).items())
    assert all(getattr(cfg(), k) != v for k, v in tiny_params(name).items())  # only what differs from the paper's
