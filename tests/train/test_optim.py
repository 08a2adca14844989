"""vssl.train.optim: LARS against hand-worked steps, parameter groups, the registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vssl.errors import InputError
from vssl.train.optim import LARS, OPTIMIZERS, build_optimizer, param_groups, schedule_lambdas


def _param(values, grad):
    p = nn.Parameter(torch.tensor(values))
    p.grad = torch.tensor(grad)
    return p


def test_lars_hand_worked_step_with_weight_decay_and_momentum():
    # w = (3, 4), ||w|| = 5; g = (0.3, 0.4); u = g + 0.1 w = (0.6, 0.8), ||u|| = 1
    # trust = 0.001 * 5 / 1 = 0.005 -> u = (0.003, 0.004); mu = u; w <- w - 2 * mu
    p = _param([3.0, 4.0], [0.3, 0.4])
    opt = LARS([p], lr=2.0, momentum=0.9, weight_decay=0.1, eta=0.001)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([2.994, 3.992]))
    # second step, same gradient: w = (2.994, 3.992), ||w|| = 4.99; u = (0.5994, 0.7992), ||u|| = 0.999
    # trust = 0.001 * 4.99 / 0.999; mu = 0.9 * (0.003, 0.004) + trust * u
    p.grad = torch.tensor([0.3, 0.4])
    w = torch.tensor([2.994, 3.992])
    u = torch.tensor([0.3, 0.4]) + 0.1 * w
    trust = 0.001 * w.norm() / u.norm()
    mu = 0.9 * torch.tensor([0.003, 0.004]) + trust * u
    opt.step()
    torch.testing.assert_close(p.detach(), w - 2.0 * mu)


def test_lars_excluded_group_is_plain_momentum_sgd_without_decay():
    p = _param([3.0, 4.0], [0.3, 0.4])
    opt = LARS([{"params": [p], "lars_exclude": True, "weight_decay": 0.0}], lr=0.5, weight_decay=0.1)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([3.0 - 0.15, 4.0 - 0.2]))


def test_lars_zero_weight_or_gradient_uses_trust_one():
    p = _param([0.0, 0.0], [1.0, 2.0])
    LARS([p], lr=0.1).step()
    torch.testing.assert_close(p.detach(), torch.tensor([-0.1, -0.2]))
    q = _param([1.0, 1.0], [0.0, 0.0])
    LARS([q], lr=0.1).step()
    torch.testing.assert_close(q.detach(), torch.tensor([1.0, 1.0]))


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2, bias=False))


def test_param_groups_exclude_norms_and_biases():
    net = _net()
    g = param_groups(net, weight_decay=1e-6, exclude_norm_bias=True, norm_bias_lr_scale=0.024)
    assert [x["name"] for x in g] == ["weights", "norm_bias"]
    weights, nb = g
    assert {id(p) for p in weights["params"]} == {id(net[0].weight), id(net[3].weight)}
    assert {id(p) for p in nb["params"]} == {id(net[0].bias), id(net[1].weight), id(net[1].bias)}
    assert weights["weight_decay"] == 1e-6 and not weights["lars_exclude"]
    assert nb["weight_decay"] == 0.0 and nb["lars_exclude"] and nb["lr_scale"] == 0.024
    opt = build_optimizer("lars", g, lr=0.2)
    assert [x["lr"] for x in opt.param_groups] == [0.2, 0.2 * 0.024]


def test_param_groups_default_is_one_group_in_model_order_and_skips_frozen():
    net = _net()
    net[3].weight.requires_grad_(False)
    (g,) = param_groups(net, weight_decay=1e-4)
    assert [id(p) for p in g["params"]] == [id(p) for p in net.parameters() if p.requires_grad]
    assert g["weight_decay"] == 1e-4 and not g["fixed_lr"]


def test_fixed_lr_group_keeps_the_peak_lr():
    net = _net()
    g = param_groups(net, weight_decay=1e-4, fixed_lr=lambda name: name.startswith("3."))
    opt = build_optimizer("sgd", g, lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule_lambdas(opt, lambda s: 0.5 ** (s + 1)))
    assert [x["fixed_lr"] for x in opt.param_groups] == [False, True]
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.125)
    assert opt.param_groups[1]["lr"] == pytest.approx(0.1)


def test_registry_builds_each_and_unknown_name_is_one_line():
    assert set(OPTIMIZERS) == {"sgd", "lars", "adamw"}
    net = _net()
    kinds = {n: type(build_optimizer(n, param_groups(net, weight_decay=0.0), lr=0.1)) for n in OPTIMIZERS}
    assert kinds == {"sgd": torch.optim.SGD, "lars": LARS, "adamw": torch.optim.AdamW}
    with pytest.raises(InputError) as e:
        build_optimizer("adam", param_groups(net, weight_decay=0.0), lr=0.1)
    assert "\n" not in str(e.value) and "sgd, lars, adamw" in str(e.value)


def test_config_choice_and_resume_of_old_configs():
    from vssl.train.config import differences, resolve_config, to_dict

    with pytest.raises(InputError, match="optim.optimizer must be one of sgd, lars, adamw"):
        resolve_config("moco", overrides={"optim.optimizer": "adam"})
    with pytest.raises(InputError, match="not both"):
        resolve_config("moco", overrides={"optim.min_lr": 1e-5, "optim.min_lr_ratio": 0.001})
    new = to_dict(resolve_config("moco"))
    old = {**new, "optim": {k: v for k, v in new["optim"].items() if k not in ("optimizer", "lars_eta", "betas")}}
    assert differences(old, new) == []  # a config written before these keys existed still resumes
    lars = to_dict(resolve_config("moco", overrides={"optim.optimizer": "lars"}))
    assert differences(old, lars) == ["optim.optimizer: 'sgd' -> 'lars'"]


def test_engine_uses_the_recipe_optimizer():
    from vssl import dist as D
    from vssl.train.config import resolve_config
    from vssl.train.engine import build_engine, build_method

    cfg = resolve_config("simclr", overrides={"backbone": "tiny", "simclr.crop": 24, "optim.optimizer": "lars",
                                              "optim.exclude_norm_bias": True, "optim.min_lr_ratio": 0.001})
    m = build_method(cfg)
    eng = build_engine(cfg, m, torch.device("cpu"), D.DistInfo(), total_steps=10, warmup_steps=0)
    assert isinstance(eng.optimizer, LARS)
    assert [g["name"] for g in eng.optimizer.param_groups] == ["weights", "norm_bias"]
    for _ in range(10):
        eng.optimizer.step()
        eng.scheduler.step()
    assert eng.optimizer.param_groups[0]["lr"] == pytest.approx(0.03 * 0.001)


def test_step_schedule_by_hand():
    from vssl.train.optim import lr_factor

    # 90 steps, milestones 1/3, 2/3 -> the lr drops at steps 30 and 60 (Pace's StepLR: epochs 6 and 12 of 18)
    f = [lr_factor(s, 90, 0, schedule="step", milestones=(1 / 3, 2 / 3), gamma=0.1) for s in (0, 29, 30, 59, 60, 89)]
    assert f == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    # a 10-step warm-up first: (s + 1) / 10, then the steps; one milestone at 0.5 (step 50), gamma 0.5
    f = [lr_factor(s, 100, 10, schedule="step", milestones=(0.5,), gamma=0.5) for s in (0, 4, 9, 10, 49, 50, 99)]
    assert f == pytest.approx([0.1, 0.5, 1.0, 1.0, 1.0, 0.5, 0.5])
    assert lr_factor(99, 100, 0, schedule="step", milestones=(), gamma=0.1) == 1.0  # no milestone: constant
    assert lr_factor(3, 9, 0, schedule="step", milestones=(1 / 3,), peak=0.2) == pytest.approx(0.02)
    # cosine unchanged: half-way through the decay 0.5; the end at min_ratio
    assert lr_factor(55, 100, 10, 0.0) == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, 0.1, schedule="cosine") == pytest.approx(0.1)
    with pytest.raises(InputError, match="unknown lr schedule 'linear'"):
        lr_factor(50, 100, 0, schedule="linear")


def test_finetune_rates_are_those_of_its_former_lr_at():
    """vssl eval finetune's warm-up + cosine (formerly its own ``lr_at``) through the shared function, to the bit."""
    import math
    import random

    from vssl.train.optim import lr_factor

    def lr_at(step, total, warmup, base):  # the finetune's former function, as it was
        if warmup > 0 and step < warmup:
            return base * (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    rng = random.Random(0)
    for _ in range(3000):
        total = rng.randint(1, 3000)
        warmup, step, base = rng.randint(0, total), rng.randint(0, total + 2), rng.choice([0.1, 3e-4, rng.random()])
        assert lr_factor(step, total, warmup, peak=base) == lr_at(step, total, warmup, base), (step, total, warmup)


@pytest.mark.parametrize("over, msg", [
    ({"optim.schedule": "linear"}, "'optim.schedule' must be one of cosine, step, got 'linear' (in the command-line"),
    ({"optim.milestones": [0.7, 0.3]}, "optim.milestones must be increasing fractions of the run in (0, 1)"),
    ({"optim.milestones": [0.5, 1.0]}, "optim.milestones must be increasing fractions"),
    ({"optim.milestones": 0.5}, "'optim.milestones' must be a list"),
    ({"optim.gamma": 0.0}, "optim.gamma must be in (0, 1]"),
    ({"optim.gamma": 2.0}, "optim.gamma must be in (0, 1]"),
    ({"optim.schedule": "step", "optim.min_lr_ratio": 0.001}, "end of the cosine"),
])
def test_schedule_options_bad_values_are_one_line(over, msg):
    from vssl.train.config import resolve_config

    with pytest.raises(InputError) as e:
        resolve_config("moco", overrides=over)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_step_schedule_options_round_trip_and_old_configs_resume():
    from vssl.train.config import config_from_dict, differences, resolve_config, to_dict

    cfg = resolve_config("moco", overrides={"optim.schedule": "step", "optim.milestones": [0.25, 0.5, 0.75]})
    assert cfg.optim.milestones == (0.25, 0.5, 0.75)  # any number of milestones
    assert config_from_dict(to_dict(cfg)) == cfg
    new = to_dict(resolve_config("moco"))
    old = {**new, "optim": {k: v for k, v in new["optim"].items() if k not in ("schedule", "milestones", "gamma")}}
    assert differences(old, new) == []  # a run written before the step schedule existed still resumes
