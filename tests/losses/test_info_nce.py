from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vssl.losses import info_nce, info_nce_logits


def _unit(row):
    norm = math.sqrt(sum(v * v for v in row))
    return [v / norm for v in row]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _reference(q, k, negatives, temperature, extra=None):
    """Loop-based InfoNCE over python lists, float64, written independently of the library."""
    q = [_unit(r) for r in q.tolist()]
    k = [_unit(r) for r in k.tolist()]
    extra = None if extra is None else [_unit(r) for r in extra.tolist()]
    total = 0.0
    for i in range(len(q)):
        pos = _dot(q[i], k[i]) / temperature
        if negatives is None:
            negs = [_dot(q[i], k[j]) / temperature for j in range(len(k)) if j != i]
        else:
            negs = [_dot(q[i], _unit(n)) / temperature for n in negatives.tolist()]
        if extra is not None:
            negs.append(_dot(q[i], extra[i]) / temperature)
        denom = math.exp(pos) + sum(math.exp(s) for s in negs)
        total += -(pos - math.log(denom))
    return total / len(q)


@pytest.mark.parametrize("batch,dim,num_neg", [(1, 4, 3), (4, 8, 16), (7, 5, 1)])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
@pytest.mark.parametrize("with_extra", [False, True])
def test_matches_reference_with_queue(batch, dim, num_neg, temperature, with_extra):
    g = torch.Generator().manual_seed(batch * 100 + dim)
    q, k = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    neg = torch.randn(num_neg, dim, generator=g)
    extra = torch.randn(batch, dim, generator=g) if with_extra else None
    got = info_nce(
        q.double(), k.double(), neg.double(), temperature=temperature,
        extra_negatives=None if extra is None else extra.double(),
    )
    want = _reference(q, k, neg, temperature, extra)
    assert got.item() == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("batch,dim", [(2, 3), (6, 8)])
@pytest.mark.parametrize("with_extra", [False, True])
def test_matches_reference_in_batch(batch, dim, with_extra):
    g = torch.Generator().manual_seed(batch + dim)
    q, k = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    extra = torch.randn(batch, dim, generator=g) if with_extra else None
    got = info_nce(q.double(), k.double(), temperature=0.1,
                   extra_negatives=None if extra is None else extra.double())
    assert got.item() == pytest.approx(_reference(q, k, None, 0.1, extra), rel=1e-9)


def test_float32_close_to_float64_reference():
    g = torch.Generator().manual_seed(0)
    q, k, neg = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g), torch.randn(64, 16, generator=g)
    got = info_nce(q, k, neg, temperature=0.07)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_reference(q, k, neg, 0.07), rel=1e-5)


def test_hand_worked_values():
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    # logits [1, 0] -> log(1 + e^-1)
    assert info_nce(e1, e1, e2, temperature=1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    # tau 0.5: logits [2, 0] -> log(1 + e^-2)
    assert info_nce(e1, e1, e2, temperature=0.5).item() == pytest.approx(0.1269280110429725, rel=1e-6)
    # an extra negative pointing away: logits [1, 0, -1] -> log(1 + e^-1 + e^-2)
    got = info_nce(e1, e1, e2, temperature=1.0, extra_negatives=-e1)
    assert got.item() == pytest.approx(0.4076059644443804, rel=1e-6)
    # in-batch: two orthogonal pairs, each row [1, 0]; inputs are rescaled by normalisation
    q = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    assert info_nce(q, q, temperature=1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_logits_layout():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    neg, extra = torch.randn(5, 4, generator=g), torch.randn(3, 4, generator=g)
    logits, labels = info_nce_logits(q, k, neg, temperature=0.2, extra_negatives=extra)
    assert logits.shape == (3, 1 + 5 + 1) and labels.tolist() == [0, 0, 0]
    qn, kn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(k, dim=1)
    torch.testing.assert_close(logits[:, 0], (qn * kn).sum(1) / 0.2)
    logits, labels = info_nce_logits(q, k, temperature=0.2)
    assert logits.shape == (3, 3) and labels.tolist() == [0, 1, 2]
    torch.testing.assert_close(logits.diagonal(), (qn * kn).sum(1) / 0.2)


def test_normalize_false_uses_raw_dot_products():
    q = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    neg = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    # raw logits [4, 0] at tau 1
    got = info_nce(q, q, neg, temperature=1.0, normalize=False)
    assert got.item() == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-12)


def test_invariant_to_batch_and_queue_permutation():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    neg, extra = torch.randn(10, 8, generator=g), torch.randn(6, 8, generator=g)
    perm_b, perm_k = torch.randperm(6, generator=g), torch.randperm(10, generator=g)
    base = info_nce(q, k, neg, temperature=0.1, extra_negatives=extra)
    permuted = info_nce(q[perm_b], k[perm_b], neg[perm_k], temperature=0.1, extra_negatives=extra[perm_b])
    torch.testing.assert_close(base, permuted)
    torch.testing.assert_close(info_nce(q, k, temperature=0.1), info_nce(q[perm_b], k[perm_b], temperature=0.1))


def test_scale_invariant_when_normalized():
    g = torch.Generator().manual_seed(3)
    q, k, neg = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g), torch.randn(9, 8, generator=g)
    torch.testing.assert_close(
        info_nce(q, k, neg, temperature=0.1), info_nce(5 * q, 0.3 * k, 2 * neg, temperature=0.1)
    )


def test_negatives_are_detached_keys_are_not():
    g = torch.Generator().manual_seed(4)
    q = torch.randn(4, 8, generator=g, requires_grad=True)
    k = torch.randn(4, 8, generator=g, requires_grad=True)
    neg = torch.randn(16, 8, generator=g, requires_grad=True)
    extra = torch.randn(4, 8, generator=g, requires_grad=True)
    info_nce(q, k, neg, temperature=0.1, extra_negatives=extra).backward()
    assert neg.grad is None
    assert q.grad is not None and k.grad is not None and extra.grad is not None


def test_rejects_bad_arguments():
    q = torch.randn(2, 4)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(q, q, temperature=0.0)
    with pytest.raises(ValueError, match="q and k"):
        info_nce(q, torch.randn(3, 4), temperature=0.1)
    with pytest.raises(ValueError, match="negatives"):
        info_nce(q, q, torch.randn(5, 3), temperature=0.1)
    with pytest.raises(ValueError, match="extra_negatives"):
        info_nce(q, q, temperature=0.1, extra_negatives=torch.randn(1, 4))


@pytest.mark.parametrize("use_queue", [False, True])
def test_loss_falls_under_sgd(use_queue):
    torch.manual_seed(0)
    q = torch.nn.Parameter(torch.randn(8, 16))
    k = torch.nn.Parameter(torch.randn(8, 16))
    queue = torch.randn(32, 16) if use_queue else None
    extra = torch.randn(8, 16)
    opt = torch.optim.SGD([q, k], lr=0.5)
    losses = []
    for _ in range(20):
        loss = info_nce(q, k, queue, temperature=0.2, extra_negatives=extra)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]
