"""The README names every registered method, at the top and in the `vssl pretrain` section."""

from __future__ import annotations

from pathlib import Path

from vssl.methods import METHODS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_overview_names_every_method():
    top = README[README.index("3. `vssl pretrain --method M`"):README.index("4. `vssl eval")]
    missing = [m for m in METHODS if f"`{m}`" not in top]
    assert not missing, f"README's overview misses {missing}"
    assert f"{len(METHODS) - 1} self-supervised methods" in " ".join(top.split())


def test_the_pretrain_section_describes_every_method():
    section = README[README.index("## `vssl pretrain`"):README.index("### Backbones")]
    missing = [m for m in METHODS if f"`{m}`" not in section]
    assert not missing, f"README's vssl pretrain section does not describe {missing}"
