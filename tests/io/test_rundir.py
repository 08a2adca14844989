"""vssl.io.rundir: the one reader of a run directory's config.yaml and run.json."""

from __future__ import annotations

import json

import pytest

from vssl.errors import InputError
from vssl.io.rundir import read_run_config, read_run_json


def test_config_names_order_and_absence(tmp_path):
    assert read_run_config(tmp_path) is None and read_run_json(tmp_path) == {}
    (tmp_path / "config.json").write_text(json.dumps({"method": "moco"}))
    assert read_run_config(tmp_path) == {"method": "moco"}
    assert read_run_config(tmp_path, names=("config.yaml",)) is None  # the loop reads its own file only
    (tmp_path / "config.yaml").write_text("method: dsm\noptim: {lr: 0.1}\n")
    assert read_run_config(tmp_path) == {"method": "dsm", "optim": {"lr": 0.1}}  # config.yaml first
    (tmp_path / "config.yaml").write_text("- a list\n")
    assert read_run_config(tmp_path) == {}  # no usable settings
    (tmp_path / "run.json").write_text('{"status": "done", "cache_checksum": "ab"}')
    assert read_run_json(tmp_path)["cache_checksum"] == "ab"
    (tmp_path / "run.json").write_text("{torn")
    assert read_run_json(tmp_path) == {}


def test_unreadable_config_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "config.yaml").write_text("method: [unclosed\n")
    with pytest.raises(InputError, match=r"cannot read .*config.yaml: .*; use another --out") as e:
        read_run_config(tmp_path, advice="use another --out")
    assert "\n" not in str(e.value)
