"""``data.input=diff``: every method's backbone sees differences of consecutive frames."""

from __future__ import annotations

import pytest
import torch
from helpers.training import tiny_config

from vssl.errors import InputError
from vssl.eval.features import input_of_config, to_model_input
from vssl.models import build_backbone
from vssl.ops.frames import apply_input, frame_differences


def test_hook_feeds_the_frame_differences():
    torch.manual_seed(0)
    plain = build_backbone("tiny").eval()
    hooked = apply_input(build_backbone("tiny"), "diff").eval()
    hooked.load_state_dict(plain.state_dict())  # same weights, same names
    x = torch.randn(2, 3, 5, 16, 16)
    d = frame_differences(x)
    assert d.shape == (2, 3, 4, 16, 16)
    assert torch.equal(d[:, :, 1], x[:, :, 2] - x[:, :, 1])
    with torch.no_grad():
        assert torch.allclose(hooked(x), plain(d))
        assert not torch.allclose(hooked(x), plain(x))
    # a static clip is all zeros to a diff backbone: every static clip gives the same features
    still = x[:, :, :1].expand(-1, -1, 5, -1, -1)
    with torch.no_grad():
        f = hooked(still)
    assert torch.allclose(f[0], f[1])
    with pytest.raises(ValueError, match="input"):
        apply_input(build_backbone("tiny"), "flow")


def test_eval_reads_data_input():
    assert input_of_config({"method": "moco", "data": {"input": "diff"}}) == "diff"
    assert input_of_config({"method": "moco", "data": {"input": "rgb"}}) == "rgb"
    assert input_of_config({"method": "supervised", "data": {}, "supervised": {"input": "diff"}}) == "diff"


@pytest.mark.parametrize("extra, match", [
    ({"data.input": "flow"}, "'data.input' must be one of rgb, diff, got 'flow'"),
    ({"data.input": "diff", "data.clip_len": 1}, "clip_len >= 2"),
    ({"data.input": "diff", "backbone": "vit_tiny"}, "convolutional"),
])
def test_bad_input_settings(tiny_cache, extra, match):
    with pytest.raises(InputError, match=match):
        tiny_config("moco", tiny_cache, **extra)


def test_not_twice_with_the_supervised_control(tiny_cache):
    with pytest.raises(InputError, match="twice"):
        tiny_config("supervised", tiny_cache, **{"data.input": "diff", "supervised.input": "diff"})


def test_diff_run_trains_loads_and_exports_its_input(tiny_cache, tmp_path):
    import vssl
    from vssl.eval.checkpoints import load_backbone as load_eval
    from vssl.train.loop import pretrain

    cfg = tiny_config("moco", tiny_cache, **{"data.input": "diff", "run.save_every": 2})
    pretrain(cfg, tmp_path / "run", quiet=True)
    user = vssl.load_backbone(tmp_path / "run")  # takes frames, differences them itself
    bare, meta = load_eval(tmp_path / "run")  # what vssl eval holds: it feeds differences
    assert input_of_config(meta["config"]) == "diff"
    u8 = torch.randint(0, 255, (2, 4, 24, 24, 3), dtype=torch.uint8)
    frames = to_model_input(u8, None, torch.device("cpu"), "rgb")
    diffs = to_model_input(u8, None, torch.device("cpu"), "diff")
    with torch.no_grad():
        assert torch.allclose(user(frames), bare(diffs), atol=1e-6)
