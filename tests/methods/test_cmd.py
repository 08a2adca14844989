from __future__ import annotations

import torch
from method_helpers import batch_for, build


def test_variants_run_and_inputs_are_clamped():
    m = build("cmd")
    assert m.requires["mv"] and m.requires["keyframe"] and m.requires["mv_negatives"] == 2
    out = m.training_step(batch_for(m))
    assert {"loss_context", "loss_motion", "acc_context", "acc_motion"} <= set(out.logs)
    torch.testing.assert_close(out.loss, out.logs["loss_context"] + out.logs["loss_motion"])
    assert m._mv_in(torch.tensor([-50.0, 5.0, 50.0])).tolist() == [-1.0, 0.5, 1.0]
    corrected = build("cmd", mv_faithful=False, mv_negatives=0)
    assert "mv_neg" not in batch_for(corrected)
    assert torch.isfinite(corrected.training_step(batch_for(corrected)).loss)


def test_cmd_recipe():
    from vssl.methods.cmd import CMD
    from vssl.train.config import resolve_config
    from vssl.train.loop import effective_lr

    cfg = resolve_config("cmd", overrides={"optim.batch_size": 64})
    assert cfg.data.stride == 4 and cfg.data.clip_len == 16
    assert effective_lr(cfg) == 5e-4 * 64  # lr 5e-4 x total batch
    assert CMD.views == ("rgb", "keyframe", "mv")
