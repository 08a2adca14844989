"""`--preset`: resolves to the documented values, sits between the recipe and the config file."""

from __future__ import annotations

import pytest
import yaml

from vssl.errors import InputError
from vssl.methods import METHODS
from vssl.train.config import resolve_config
from vssl.train.presets import PRESETS, eval_options, pretrain_overrides


@pytest.mark.parametrize("method", list(METHODS))
def test_demo_preset_resolves_for_every_method(method):
    cfg = resolve_config(method, preset="demo")
    vit = getattr(METHODS[method], "BACKBONE", "").startswith("vit")  # masked modelling: the tiny ViT
    assert cfg.backbone == ("vit_tiny" if vit else "tiny")
    assert (cfg.data.clip_len, list(cfg.data.load_size)) == (8, [64, 86])
    assert cfg.optim.steps == PRESETS["demo"]["pretrain"]["optim.steps"]
    assert cfg.params.crop == 56
    paper = getattr(METHODS[method], "BACKBONE", "r3d_18")
    assert resolve_config(method).backbone == paper, "without --preset the paper recipe stays the default"


def test_demo_preset_documented_values():
    for m in ("moco", "dsm", "be", "fame"):
        cfg = resolve_config(m, preset="demo")
        assert (cfg.params.momentum, cfg.params.queue_size) == (0.99, 64)
        assert cfg.optim.lr == 0.03
    cmd = resolve_config("cmd", preset="demo")
    assert cmd.optim.lr_scaling == "none" and cmd.optim.lr == 0.05
    assert resolve_config("cmd").optim.lr_scaling == "linear"
    assert cmd.run.frame_cache_mb == 512 and resolve_config("cmd").run.frame_cache_mb == 0  # a paper run keeps none
    assert resolve_config("moco", preset="demo").data.workers == 0  # the store feeds a demo run
    assert cmd.data.workers == 1 and resolve_config("cmd").data.workers == 4  # one worker overlaps CMD's vectors


def test_preset_is_below_the_config_file_and_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"method": "moco", "optim": {"lr": 0.5}}))
    cfg = resolve_config(config_file=f, preset="demo", overrides={"optim.steps": 7})
    assert cfg.optim.lr == 0.5 and cfg.optim.steps == 7 and cfg.backbone == "tiny"


def test_unknown_preset_is_one_line():
    with pytest.raises(InputError, match="unknown preset 'fast'.*demo"):
        resolve_config("moco", preset="fast")


def test_pretrain_overrides_routes_method_and_section_keys():
    o = pretrain_overrides("demo", "cmd")
    assert o["cmd.crop"] == 56 and o["optim.lr_scaling"] == "none" and "cmd.optim.lr" not in o


@pytest.mark.parametrize("method", list(METHODS))
def test_method_presets_name_known_presets_and_valid_keys(method):
    """A method's own preset values (its class's ``PRESETS``): plain keys are fields of its Config,
    ``_section.key`` a field of data/optim/run, ``_backbone`` (``_cache``, ``_seed``) a top-level key."""
    from dataclasses import fields

    from vssl.train.config import SECTIONS, TOP_KEYS

    cls = METHODS[method]
    own = getattr(cls, "PRESETS", {})
    assert isinstance(own, dict) and set(own) <= set(PRESETS), f"{method}.PRESETS names an unknown preset"
    config_fields = {f.name for f in fields(cls.Config)}
    for name, entry in own.items():
        for k in entry:
            if not k.startswith("_"):
                assert k in config_fields, f"{method}.PRESETS[{name!r}]: {k!r} is not a field of its Config"
                continue
            sec, dot, key = k[1:].partition(".")
            if dot:
                assert sec in SECTIONS, f"{method}.PRESETS[{name!r}]: {k!r} is not a section key"
                assert key in {f.name for f in fields(SECTIONS[sec])}, f"{method}.PRESETS[{name!r}]: unknown {k!r}"
            else:
                assert sec in TOP_KEYS and sec != "method", f"{method}.PRESETS[{name!r}]: unknown {k!r}"
        o = pretrain_overrides(name, method)
        assert {k: v for k, v in o.items() if k not in PRESETS[name]["pretrain"]}, "an entry changes something"


def test_a_name_without_an_entry_gets_the_common_settings():
    # the science tables ask for rows that are not methods (``random``); a method without ``PRESETS`` reads the same
    assert pretrain_overrides("demo", "random") == PRESETS["demo"]["pretrain"]
    assert not hasattr(METHODS["moco"], "PRESETS") or "demo" in METHODS["moco"].PRESETS


def test_importing_the_presets_imports_no_method():
    import subprocess
    import sys

    code = ("import sys, vssl.train.presets; "
            "print(any(m.startswith('vssl.methods.') for m in sys.modules), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"], out


def test_eval_options_and_resolution_order(tmp_path):
    from vssl.eval.session import CLIP_DEFAULTS, clip_options

    assert eval_options("demo")["backbone"] == "tiny"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"method": "cmd", "backbone": "tiny", "data": {"clip_len": 12, "stride": 4, "load_size": [72, 96]},
         "cmd": {"crop": 64}}))
    o = clip_options(run, None)
    assert (o["clip_len"], o["stride"], o["resize"], o["size"], o["clips"]) == (12, 4, 72, 64, 10)
    o = clip_options(run / "checkpoints" / "last.pt", None, stride=1)  # a checkpoint file of the run, a flag
    assert (o["clip_len"], o["stride"]) == (12, 1)
    o = clip_options(run, "demo")  # the preset over the run
    assert (o["clip_len"], o["size"], o["clips"]) == (8, 56, 4)
    o = clip_options(None, "demo", random_init=True)
    assert o["backbone"] == "tiny" and o["resize"] == 64
    o = clip_options(None, None, random_init=True)
    assert {k: o[k] for k in CLIP_DEFAULTS} == CLIP_DEFAULTS and o["backbone"] is None


def test_eval_normalisation_read_from_the_method_section():
    from vssl.eval.features import normalization_of_config

    assert normalization_of_config({"method": "cmd", "cmd": {"normalize": "imagenet"}}) == "imagenet"
    assert normalization_of_config({"method": "moco", "moco": {"crop": 112}}) == "kinetics"
