from __future__ import annotations

import torch
from method_helpers import B, SIZE, batch_for, build


def test_online_and_cached_masks_keep_beta_of_the_pixels():
    m = build("fame", beta=0.5)
    batch = batch_for(m)
    out = m.training_step(batch)
    assert torch.isfinite(out.loss) and float(out.logs["fg_fraction"]) == 0.5
    batch["fame_score"] = torch.randint(0, 256, (B, 2, *SIZE), dtype=torch.uint8)  # --fame-masks cache
    out = m.training_step(batch)
    assert torch.isfinite(out.loss) and float(out.logs["fg_fraction"]) == 0.5
    m3 = build("fame", beta=0.25, symmetric=False)
    out = m3.training_step(batch_for(m3))
    assert float(out.logs["fg_fraction"]) == 0.25
    m3.after_step(0)
    assert int(m3.enc.queue.num_enqueued) == B
