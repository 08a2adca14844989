"""vssl.methods.siamese: the collapse monitor, view pairings, solarisation, view augmentation."""

from __future__ import annotations

import math

import pytest
import torch

from vssl.methods.siamese import ViewAugment, collapse_stats, mlp, ordered_pairs, solarize, unordered_pairs


def test_collapse_stats_of_known_spectra():
    # 4 samples +-e1, +-e2 in D = 4: centred, two equal singular values -> effective rank 2
    z = torch.tensor([[1.0, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0]])
    s = collapse_stats(z, "emb")
    assert float(s["emb_rank"]) == pytest.approx(2.0, rel=1e-5)
    # per-dimension std of the normalised rows: dims 1, 2 have std sqrt(2/3), dims 3, 4 zero
    assert float(s["emb_std"]) == pytest.approx(2 * math.sqrt(2 / 3) / 4 * 2, rel=1e-5)
    # complete collapse: every row the same -> std 0, rank 1
    c = collapse_stats(torch.ones(5, 3), "rep")
    assert float(c["rep_std"]) == pytest.approx(0.0, abs=1e-7) and float(c["rep_rank"]) == pytest.approx(1.0)
    # dimensional collapse: rows on one line -> rank 1 while the std stays up
    line = torch.randn(16, 1) * torch.tensor([[1.0, 2.0, -1.0]])
    d = collapse_stats(line, "emb")
    assert float(d["emb_rank"]) == pytest.approx(1.0, abs=1e-3) and float(d["emb_std"]) > 0.5
    assert collapse_stats(torch.randn(1, 3), "emb") == {}
    # D > B goes through the Gram matrix of the samples: same value as the SVD of the centred rows
    w = torch.randn(6, 40, dtype=torch.float64)
    sv = torch.linalg.svdvals(w - w.mean(0))
    q = sv / sv.sum()
    assert float(collapse_stats(w, "a")["a_rank"]) == pytest.approx(float(torch.exp(-(q * q.log()).sum())), rel=1e-5)


def test_pairs():
    assert ordered_pairs(2) == [(0, 1), (1, 0)]
    assert len(ordered_pairs(4)) == 12 and unordered_pairs(3) == [(0, 1), (0, 2), (1, 2)]


def test_solarize_inverts_bright_values_of_chosen_clips():
    x = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1).expand(2, 3, 1).clone()
    torch.testing.assert_close(solarize(x, 1.0)[0].flatten(), torch.tensor([0.2, 0.5, 0.1]))
    assert torch.equal(solarize(x, 0.0), x)


def test_view_augment_styles_and_mlp():
    clips = torch.randint(0, 256, (2, 3, 4, 32, 40, 3), dtype=torch.uint8)
    for style, n in (("mocov2", 1), ("byol", 2)):
        aug = ViewAugment(24, 0.2, style)
        assert len(aug.augs) == n
        views = aug(clips)
        assert len(views) == 3 and all(v.shape == (2, 3, 4, 24, 24) for v in views)
    byol = ViewAugment(24, 0.08, "byol")
    assert [a.blur_p for a in byol.augs] == [1.0, 0.1] and byol.solarize_p == (0.0, 0.2)
    with pytest.raises(ValueError, match="augment must be one of"):
        ViewAugment(24, 0.2, "simclr")
    net = mlp([8, 16, 4], hidden_bias=True, last_bias=False, last_norm="bn")
    assert [type(m).__name__ for m in net] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]


def _losses(z1, z2):
    """The loss-side computations of Barlow Twins, VICReg and DirectCLR on local embeddings."""
    from vssl.losses import covariance, cross_correlation_loss, info_nce, invariance, variance
    from vssl.dist import gather_with_grad

    a, b = gather_with_grad(z1), gather_with_grad(z2)
    return {
        "barlow": cross_correlation_loss(a, b, lambd=0.0051),
        "vicreg": 25 * invariance(z1, z2) + 25 * (variance(a) + variance(b)) / 2 + covariance(a) + covariance(b),
        "directclr": (info_nce(a, b, temperature=0.1) + info_nce(b, a, temperature=0.1)) / 2,
    }


def _ddp_worker(rank, port, z1, z2, out):
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    n = z1.shape[0] // 2
    res = {}
    for name in ("barlow", "vicreg", "directclr"):
        a = z1[rank * n:(rank + 1) * n].clone().requires_grad_()
        b = z2[rank * n:(rank + 1) * n].clone().requires_grad_()
        loss = _losses(a, b)[name]
        loss.backward()
        res[name] = (loss.detach(), a.grad / 2, b.grad / 2)  # / 2: DDP averages over the 2 ranks
    torch.save(res, f"{out}/{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_losses_under_two_processes_match_one_process(tmp_path):
    """Barlow Twins / VICReg / DirectCLR scopes under DDP (2 gloo processes): the same loss as one
    process over the global batch, and (after DDP's averaging) its exact gradient."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randn(8, 6, generator=g, dtype=torch.float64)
    mp.spawn(_ddp_worker, args=(port, z1, z2, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    for name in ("barlow", "vicreg", "directclr"):
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        loss = _losses(a, b)[name]
        loss.backward()
        for r in range(2):
            got_loss, ga, gb = ranks[r][name]
            if name != "vicreg":  # VICReg's invariance is over the local batch: its mean over ranks is the global one
                torch.testing.assert_close(got_loss, loss.detach())
            torch.testing.assert_close(ga, a.grad[r * 4:(r + 1) * 4], msg=name)
            torch.testing.assert_close(gb, b.grad[r * 4:(r + 1) * 4], msg=name)
