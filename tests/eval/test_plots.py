"""Each plot writes a non-empty PNG."""

from __future__ import annotations

import numpy as np
import pytest

from vssl.errors import InputError
from vssl.eval.plots import embed_2d, plot_confusion, plot_embedding, plot_loss_curves, plot_recall_curves

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def test_recall_curves(tmp_path):
    res = {"rgb": {1: 0.2, 5: 0.4, 10: 0.5, 20: 0.6, 50: 0.75}, "rgb+mv": {1: 0.3, 5: 0.5, 10: 0.6, 20: 0.7, 50: 0.8}}
    assert is_png(plot_recall_curves(res, tmp_path / "sub" / "recall.png"))
    with pytest.raises(InputError):
        plot_recall_curves({}, tmp_path / "x.png")


@pytest.mark.parametrize("c", [3, 70])
def test_confusion(tmp_path, c):
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 5, (c, c)) + np.eye(c, dtype=int) * 20
    cm[0] = 0  # a class without samples
    assert is_png(plot_confusion(cm, [f"class_{i}" for i in range(c)], tmp_path / "cm.png"))
    with pytest.raises(InputError, match="class names"):
        plot_confusion(cm, ["a"], tmp_path / "cm2.png")


def test_embedding(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(40) % 4
    x = rng.normal(size=(40, 8)) + 4 * np.eye(8)[y]
    assert is_png(plot_embedding(x, y, ["a", "b", "c", "d"], tmp_path / "tsne.png"))
    assert is_png(plot_embedding(x, None, None, tmp_path / "pca.png", method="pca"))
    assert is_png(plot_embedding(x[:3], y[:3], None, tmp_path / "tiny.png"))  # too few for t-SNE
    assert is_png(plot_embedding(x, y, None, tmp_path / "sub.png", max_points=10))
    assert embed_2d(x[:1]).shape == (1, 2)


def test_loss_curves(tmp_path):
    steps = np.arange(100)
    a = list(zip(steps, 5 * np.exp(-steps / 30) + 0.1 * np.sin(steps)))
    b = list(zip(steps, 4 * np.exp(-steps / 50) + 0.2))
    b[10] = (10, float("nan"))
    assert is_png(plot_loss_curves({"a": a, "b": b}, tmp_path / "loss.png", smooth=0.8))
    assert is_png(plot_loss_curves({"a": a, "empty": []}, tmp_path / "loss_log.png", log_y=True))
