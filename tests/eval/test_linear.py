"""Linear probe on separable synthetic features, top-k accuracy, video-level averaging."""

from __future__ import annotations

import pytest
import torch

from vssl.errors import InputError
from vssl.eval.linear import accuracy_topk, predict_logits, train_linear_probe, video_labels, video_level


def separable(n: int, seed: int, c: int = 4, d: int = 12):
    """Gaussian classes with dimensions of very different scales and offsets (standardisation matters)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.arange(n) % c
    x = centres[y] + 0.3 * torch.randn(n, d, generator=g)
    scale = torch.logspace(-2, 2, d)
    return x * scale + 50.0, y


@pytest.mark.parametrize("method", ["sgd", "lbfgs"])
def test_probe_separable(method):
    xtr, ytr = separable(400, 0)
    xte, yte = separable(200, 1)
    losses = []
    probe = train_linear_probe(xtr, ytr, 4, method=method, epochs=20, lr=0.1, wd=1e-4, batch_size=64, seed=0,
                               device="cpu", callback=lambda e, l: losses.append(l))
    assert isinstance(probe, torch.nn.Linear) and probe.weight.shape == (4, 12)
    acc = accuracy_topk(predict_logits(probe, xte), yte, ks=(1, 2))
    assert acc[1] > 0.97 and acc[2] >= acc[1]
    if method == "sgd":
        assert len(losses) == 20 and losses[-1] < 0.5 * losses[0]


def test_probe_deterministic_and_absent_class():
    x, y = separable(120, 2, c=3)
    a = train_linear_probe(x, y, 5, epochs=3, seed=1)
    b = train_linear_probe(x, y, 5, epochs=3, seed=1)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    for method in ("sgd", "lbfgs"):
        p = train_linear_probe(x, y, 5, method=method, epochs=10)
        pred = predict_logits(p, x).argmax(1)
        assert pred.max() < 3  # classes 3 and 4 never appear in training


def test_probe_binary_lbfgs():
    x, y = separable(100, 3, c=2)
    p = train_linear_probe(x, y, 2, method="lbfgs")
    assert accuracy_topk(predict_logits(p, x), y, ks=(1,))[1] > 0.97


def test_probe_errors():
    x, y = separable(20, 0)
    with pytest.raises(InputError, match="method"):
        train_linear_probe(x, y, 4, method="adam")
    with pytest.raises(InputError, match="labels must lie"):
        train_linear_probe(x, y, 3)
    with pytest.raises(InputError, match="epochs"):
        train_linear_probe(x, y, 4, epochs=0)


def test_accuracy_topk_hand_worked():
    logits = torch.tensor([[0.1, 0.5, 0.4], [1.0, 1.0, 0.0], [0.0, 0.2, 0.1]])
    labels = torch.tensor([2, 1, 0])
    # row 0: ranks 1,2,0 -> label 2 at rank 2; row 1: tie 0,1 -> 0 first -> label 1 at rank 2;
    # row 2: ranks 1,2,0 -> label 0 at rank 3.
    assert accuracy_topk(logits, labels, ks=(1, 2, 3, 10)) == pytest.approx({1: 0, 2: 2 / 3, 3: 1, 10: 1})


def test_video_level():
    clip = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 4.0], [1.0, 0.0], [3.0, 0.0]])
    vid = torch.tensor([0, 0, 1, 2, 2])
    lo = video_level(clip, vid, average="logits")
    assert lo.tolist() == [[1.0, 1.0], [0.0, 4.0], [2.0, 0.0]]
    pr = video_level(clip, vid)
    p = torch.softmax(clip, 1)
    assert torch.allclose(pr[0], (p[0] + p[1]) / 2) and torch.allclose(pr[2], (p[3] + p[4]) / 2)
    assert torch.allclose(pr.sum(1), torch.ones(3))
    # Averaging probabilities: a confident clip of one video outweighs a hesitant one.
    clip2 = torch.tensor([[10.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert video_level(clip2, [0, 0, 0]).argmax(1).item() == 0
    with pytest.raises(InputError, match="no clip"):
        video_level(clip, vid, num_videos=4)
    assert video_labels([3, 3, 1, 2, 2], vid).tolist() == [3, 1, 2]
    with pytest.raises(InputError, match="different labels"):
        video_labels([3, 4, 1, 2, 2], vid)
