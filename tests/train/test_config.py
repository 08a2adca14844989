from __future__ import annotations

import pytest
import yaml

from vssl.errors import InputError
from vssl.train.config import config_from_dict, differences, parse_set, resolve_config, to_dict


def test_precedence_defaults_recipe_yaml_cli(tmp_path):
    cfg = resolve_config("cmd")
    assert cfg.data.stride == 4 and cfg.optim.nesterov and cfg.optim.weight_decay == 1e-3  # CMD recipe
    assert cfg.optim.lr_scaling == "linear" and cfg.params.temperature == 0.1
    assert resolve_config("moco").data.stride == 1  # default
    f = tmp_path / "c.yaml"
    f.write_text("method: cmd\ndata: {stride: 2}\noptim: {lr: 0.5, steps: 7}\ncmd: {mv_negatives: 1}\n")
    cfg = resolve_config(config_file=f)
    assert (cfg.data.stride, cfg.optim.lr, cfg.optim.steps, cfg.params.mv_negatives) == (2, 0.5, 7, 1)
    cfg = resolve_config("cmd", config_file=f, overrides={"optim.lr": 0.25, "data.stride": None, "cmd.mv_len": 8})
    assert (cfg.data.stride, cfg.optim.lr, cfg.params.mv_len) == (2, 0.25, 8)  # None = flag not given


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("method: moco\noptim: {lrr: 0.1}\n")
    with pytest.raises(InputError, match=rf"unknown key 'optim.lrr' in {f}"):
        resolve_config(config_file=f)
    f.write_text("method: moco\nbatchsize: 8\n")
    with pytest.raises(InputError, match=rf"unknown key 'batchsize' in {f}"):
        resolve_config(config_file=f)
    f.write_text("method: moco\nsimclr: {temperature: 0.5}\n")
    with pytest.raises(InputError, match="unknown key 'simclr'"):
        resolve_config(config_file=f)
    f.write_text("method: dsm\n")
    with pytest.raises(InputError, match="config for method 'dsm'"):
        resolve_config("moco", config_file=f)


def test_bad_values():
    with pytest.raises(InputError, match="unknown method 'nope'; choose one of: moco, simclr"):
        resolve_config("nope")
    with pytest.raises(InputError, match="must be an integer"):
        resolve_config("moco", overrides={"optim.batch_size": "8x"})
    with pytest.raises(InputError, match="unknown backbone"):
        resolve_config("moco", overrides={"backbone": "resnet50"})
    with pytest.raises(InputError, match="crop 112 is larger"):
        resolve_config("moco", overrides={"data.load_size": [64, 80]})
    with pytest.raises(InputError, match="dsm"):
        resolve_config("dsm", overrides={"dsm.loss": "hinge"})
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_set(["optim.lr"])
    assert parse_set(["optim.lr=0.1", "data.load_size=[64, 80]"]) == {"optim.lr": 0.1, "data.load_size": [64, 80]}


def test_round_trip_and_differences():
    cfg = resolve_config("be", overrides={"optim.steps": 5, "be.lambda_max": 0.2, "data.load_size": [120, 160]})
    d = to_dict(cfg)
    assert yaml.safe_load(yaml.safe_dump(d)) == d
    assert config_from_dict(d) == cfg
    other = to_dict(resolve_config("be", overrides={"optim.steps": 5, "be.lambda_max": 0.2,
                                                    "data.load_size": [120, 160], "data.workers": 9,
                                                    "run.device": "cpu", "optim.lr": 1.0}))
    assert differences(d, other) == ["optim.lr: 0.003 -> 1.0"]  # workers / run.* may change on resume


def test_example_configs_resolve():
    from pathlib import Path

    from vssl.methods import METHODS

    root = Path(__file__).resolve().parents[2] / "examples" / "configs"
    for name in METHODS:
        cfg = resolve_config(config_file=root / f"{name}.yaml")
        assert cfg.method == name and cfg == resolve_config(name)  # the files spell out the recipe defaults


def test_bad_values_name_key_value_choices_and_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("method: moco\ndata: {decode: nvdec}\n")
    with pytest.raises(InputError) as e:
        resolve_config(config_file=f)
    assert str(e.value) == f"'data.decode' must be one of auto, cpu, gpu, got 'nvdec' (in {f})"
    f.write_text("method: dsm\ndsm: {loss: hinge}\n")
    with pytest.raises(InputError, match=rf"'dsm.loss' must be one of infonce, triplet, got 'hinge' \(in {f}\)"):
        resolve_config(config_file=f)
    with pytest.raises(InputError, match=r"'optim.lr_scaling' must be one of none, linear, got 'sqrt' "
                                         r"\(in the command-line options\)"):
        resolve_config("moco", overrides=parse_set(["optim.lr_scaling=sqrt"]))
    with pytest.raises(InputError, match=r"'data.load_size' must be a list of 2 integers, got \[128\]"):
        resolve_config("moco", overrides={"data.load_size": [128]})
    with pytest.raises(InputError, match="'seed' must be an integer, got 'x'"):
        resolve_config("moco", overrides={"seed": "x"})


def test_set_values_are_coerced_from_the_annotations():
    over = parse_set(["run.bf16=false", "run.tensorboard=true", "data.load_size=[120, 160.0]",
                      "optim.milestones=[0.5]", "optim.weight_decay=1e-4", "data.split=2", "optim.steps=10"])
    assert over["optim.weight_decay"] == "1e-4"  # PyYAML reads an exponent without a dot as a string
    cfg = resolve_config("moco", overrides=over)
    assert cfg.run.bf16 is False and cfg.run.tensorboard is True
    assert cfg.data.load_size == (120, 160) and cfg.optim.milestones == (0.5,)
    assert cfg.optim.weight_decay == 1e-4 and cfg.data.split == "2" and cfg.optim.steps == 10
    cfg = resolve_config("moco", overrides={"run.bf16": "false", "run.device": "cuda:1"})
    assert cfg.run.bf16 is False and cfg.run.device == "cuda:1"  # --set ...='false' quoted, a device index
