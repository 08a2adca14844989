from __future__ import annotations

import pytest
import torch
from method_helpers import batch_for, build


def test_infonce_logs_and_triplet_variant():
    m = build("dsm")
    out = m.training_step(batch_for(m))
    assert 0.0 <= float(out.logs["neg_wins"]) <= 1.0 and 0.0 <= float(out.logs["acc"]) <= 1.0
    t = build("dsm", loss="triplet")
    out = t.training_step(batch_for(t))
    assert torch.isfinite(out.loss) and float(out.loss.detach()) >= 0
    assert t.enc.queue is None
    with pytest.raises(ValueError, match="infonce"):
        build("dsm", loss="hinge")
