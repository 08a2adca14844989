"""Shared fixtures of the training tests: one tiny labelled cache per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.training import build_tiny_cache


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """A tiny labelled cache (split "1": 9 train / 3 test videos) without precomputes."""
    return build_tiny_cache(tmp_path_factory.getbasetemp() / "vssl_tiny")


@pytest.fixture(scope="session")
def tiny_cache_precomputed(tmp_path_factory, tiny_cache) -> Path:
    """A copy of the tiny cache with `vssl precompute fame` and `be` (windows of 4 frames)."""
    from vssl.preprocess.be import BeOptions
    from vssl.preprocess.fame import FameOptions
    from vssl.preprocess.precompute import RunOptions, precompute

    dst = tmp_path_factory.getbasetemp() / "vssl_tiny_pre" / "cache"
    if not (dst / "fame" / "manifest.json").exists():
        shutil.copytree(tiny_cache, dst, dirs_exist_ok=True)
        precompute(dst, FameOptions(window=4, stride=2), RunOptions(workers=1), quiet=True)
        precompute(dst, BeOptions(window=4, stride=2, k=2), RunOptions(workers=1), quiet=True)
    return dst
