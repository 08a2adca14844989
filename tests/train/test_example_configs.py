"""examples/configs/<method>.yaml are current (``make configs``) and load as the method's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from vssl.methods import METHODS
from vssl.train.config import resolve_config, to_dict
from vssl.train.examples import header, render, stale

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


def test_every_method_has_a_current_example():
    assert stale(EXAMPLES) == [], "examples/configs are stale: run `make configs`"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_example_loads_as_the_defaults(method):
    p = EXAMPLES / f"{method}.yaml"
    assert header(p.read_text()).startswith("# "), "an example keeps a comment header saying what it is"
    from_file = to_dict(resolve_config(config_file=p))
    assert from_file == to_dict(resolve_config(method))


def test_render_keeps_the_header_and_replaces_the_body(tmp_path):
    old = "# my notes\n# second line\nmethod: moco\noptim:\n  lr: 9.0\n"
    new = render("moco", old)
    assert new.startswith("# my notes\n# second line\nmethod: moco\n")
    assert "lr: 9.0" not in new and "queue_size: 2048" in new
    (tmp_path / "moco.yaml").write_text(old)
    assert "moco" in stale(tmp_path, write=True)
    assert (tmp_path / "moco.yaml").read_text() == new
