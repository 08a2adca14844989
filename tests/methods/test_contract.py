"""Every registered method: builds, one step gives a finite loss, gradients reach the backbone."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers.methods import B, batch_for, build

from vssl.data.requires import Requires
from vssl.methods import METHODS, StepOut
from vssl.train.config import SECTIONS


@pytest.mark.parametrize("name", list(METHODS))
def test_method_steps(name):
    m = build(name).train()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.01)
    before = {k: v.clone() for k, v in m.backbone.state_dict().items()}
    for step in range(2):
        torch.manual_seed(step)
        out = m.training_step(batch_for(m, seed=step))
        assert isinstance(out, StepOut)
        assert out.loss.dim() == 0 and torch.isfinite(out.loss), name
        for k, v in out.logs.items():
            assert torch.as_tensor(v).dim() == 0 and not torch.as_tensor(v).requires_grad, k
        opt.zero_grad()
        out.loss.backward()
        grads = [p.grad for p in m.backbone.parameters() if p.requires_grad]
        assert all(g is not None for g in grads), f"{name}: a backbone parameter got no gradient"
        assert sum(float(g.abs().sum()) for g in grads) > 0, f"{name}: zero gradient"
        opt.step()
        if hasattr(m, "after_step"):
            m.after_step(step)
    changed = any(not torch.equal(before[k], v) for k, v in m.backbone.state_dict().items())
    assert changed


@pytest.mark.parametrize("name", list(METHODS))
def test_method_declarations(name):
    cls = METHODS[name]
    assert dataclasses.is_dataclass(cls.Config)
    cfg = cls.Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.crop = 1  # frozen
    for section, values in getattr(cls, "RECIPE", {}).items():
        assert section in SECTIONS, f"{name}.RECIPE has an unknown section {section}"
        names = {f.name for f in dataclasses.fields(SECTIONS[section])}
        assert set(values) <= names, f"{name}.RECIPE[{section}] has unknown keys {set(values) - names}"
    m = build(name)
    assert isinstance(m.requires, Requires)  # one frozen declaration of what the data layer loads
    assert hasattr(m, "backbone") and not hasattr(cls, "views")
    assert m.forward.__func__ is cls.training_step  # DDP calls forward


@pytest.mark.parametrize("name", list(METHODS))
def test_state_dict_round_trip(name):
    """A method's state dict (incl. momentum encoder and queue) restores an identical step."""
    a = build(name)
    torch.manual_seed(1)
    b = build(name, seed=1)
    b.load_state_dict(a.state_dict())
    batch = batch_for(a)
    torch.manual_seed(3)
    la = a.training_step(batch).loss
    torch.manual_seed(3)
    lb = b.training_step(batch).loss
    torch.testing.assert_close(la, lb)


def test_batch_size_one_in_batch_methods_do_not_crash():
    """B = 1 has no in-batch negatives; methods with a queue still give a finite loss."""
    m = build("moco")
    out = m.training_step(batch_for(m, batch_size=1))
    assert torch.isfinite(out.loss)
    assert B > 1  # the contract tests use real batches
