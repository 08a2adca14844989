from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from vssl.errors import InputError
from vssl.utils.typed import check_choices, choices, coerce, field_types, from_dict


@dataclass(frozen=True)
class Cfg:
    mode: Literal["auto", "cpu", "gpu"] = "auto"
    size: tuple[int, int] = (128, 171)
    marks: tuple[float, ...] = (0.5,)
    flag: bool = False
    n: int = 1
    lr: float = 0.1
    name: str = "1"
    steps: int | None = None
    clip: float | None = None

    def __post_init__(self):
        check_choices(self, "cfg")
        if self.n < 0:
            raise ValueError(f"cfg n must be >= 0, got {self.n}")


def test_literal_rejected_with_key_value_choices_and_where():
    with pytest.raises(InputError) as e:
        from_dict(Cfg, {"mode": "tpu"}, "c.yaml", section="data")
    assert str(e.value) == "'data.mode' must be one of auto, cpu, gpu, got 'tpu' (in c.yaml)"
    assert from_dict(Cfg, {"mode": "gpu"}).mode == "gpu"
    assert choices(Cfg, "mode") == ("auto", "cpu", "gpu") and choices(Cfg, "n") == ()


def test_tuples_are_coerced_from_lists():
    c = from_dict(Cfg, {"size": [112, 150.0], "marks": [1, 0.25, 0.75]})
    assert c.size == (112, 150) and type(c.size[1]) is int
    assert c.marks == (1.0, 0.25, 0.75) and all(type(m) is float for m in c.marks)
    with pytest.raises(InputError, match=r"'size' must be a list of 2 integers, got \[1, 2, 3\]"):
        from_dict(Cfg, {"size": [1, 2, 3]})
    with pytest.raises(InputError, match="'marks' must be a list of numbers, got 0.5"):
        from_dict(Cfg, {"marks": 0.5})


def test_bools_from_true_false_strings_only():
    assert from_dict(Cfg, {"flag": "true"}).flag is True
    assert from_dict(Cfg, {"flag": "False"}).flag is False
    assert from_dict(Cfg, {"flag": True}).flag is True
    for bad in ("yes", 1, None):
        with pytest.raises(InputError, match="'flag' must"):
            from_dict(Cfg, {"flag": bad})


def test_numbers_strings_and_optionals():
    c = from_dict(Cfg, {"n": 4.0, "lr": "1e-4", "name": 2, "steps": "7", "clip": 1})
    assert (c.n, c.lr, c.name, c.steps, c.clip) == (4, 1e-4, "2", 7, 1.0)
    assert type(c.n) is int and type(c.clip) is float
    assert from_dict(Cfg, {"steps": None}).steps is None
    with pytest.raises(InputError, match="'n' must be an integer, got '8x'"):
        from_dict(Cfg, {"n": "8x"})
    with pytest.raises(InputError, match="'n' must be an integer, got 2.5"):
        from_dict(Cfg, {"n": 2.5})
    with pytest.raises(InputError, match="'n' must be an integer, got True"):
        from_dict(Cfg, {"n": True})
    with pytest.raises(InputError, match="'steps' must be an integer or null, got 'many'"):
        from_dict(Cfg, {"steps": "many"})
    with pytest.raises(InputError, match="'lr' must not be empty: it must be a number"):
        from_dict(Cfg, {"lr": None})
    assert coerce(field_types(Cfg)["name"], 1, "'split'") == "1"


def test_unknown_key_names_key_where_and_valid_keys():
    with pytest.raises(InputError) as e:
        from_dict(Cfg, {"mdoe": "cpu"}, "the command-line options", section="data")
    msg = str(e.value)
    assert msg.startswith("unknown key 'data.mdoe' in the command-line options (valid: mode, size, marks")
    assert "\n" not in msg


def test_class_checks_become_one_line_input_errors_and_base_is_changed():
    with pytest.raises(InputError, match=r"bad value in 'optim' \(in f.yaml\): cfg n must be >= 0, got -1"):
        from_dict(Cfg, {"n": -1}, "f.yaml", section="optim")
    base = Cfg(n=3)
    assert from_dict(Cfg, {"lr": 1}, base=base) == Cfg(n=3, lr=1.0)
    with pytest.raises(ValueError, match="cfg mode must be one of auto, cpu, gpu, got 'x'"):
        Cfg(mode="x")  # built in code: the Literal is checked by __post_init__
    with pytest.raises(InputError, match="'data' in c.yaml must be a mapping of settings"):
        from_dict(Cfg, [1], "c.yaml", section="data")
