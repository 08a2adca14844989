from __future__ import annotations

import torch
from helpers.methods import batch_for, build

from vssl.dist import gather_with_grad


def test_loss_is_nt_xent_of_the_two_views_and_single_process_gather_is_identity():
    m = build("simclr")
    x = torch.randn(3, 5, requires_grad=True)
    assert gather_with_grad(x) is x
    torch.manual_seed(0)
    out = m.training_step(batch_for(m))
    assert 0 < float(out.loss.detach()) < 10
    assert any(isinstance(mod, torch.nn.BatchNorm1d) for mod in m.head.modules())  # SimCLR head has BN
