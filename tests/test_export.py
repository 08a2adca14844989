"""`vssl export RUN --format pt|safetensors|onnx` and `vssl.load_backbone(path)`."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from typer.testing import CliRunner

import vssl
from vssl.cli.main import app
from vssl.errors import InputError

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny MoCo run of 2 steps on the tiny cache of the training tests."""
    from helpers.training import build_tiny_cache, tiny_config

    from vssl.train.loop import pretrain

    base = tmp_path_factory.getbasetemp()
    cache = build_tiny_cache(base / "vssl_tiny")
    run = base / "export_run"
    if not (run / "checkpoints" / "last.pt").exists():
        pretrain(tiny_config("moco", cache), run, quiet=True)
    return run


def _clip(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, 4, 24, 24, generator=torch.Generator().manual_seed(1))


def _features(model, x):
    with torch.no_grad():
        return model.eval()(x)


def _run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output
    return r


def _trained(run_dir):
    from vssl.eval.checkpoints import load_backbone

    return load_backbone(run_dir)[0]


def test_load_backbone_of_a_run_is_the_trained_one(run_dir):
    model = vssl.load_backbone(run_dir)
    assert model.feat_dim == 64 and not model.training
    ck = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    sd = {k[len("backbone."):]: v for k, v in ck["model"].items() if k.startswith("backbone.")}
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, sd[k])


@pytest.mark.parametrize("fmt,suffix", [("pt", ".pt"), (None, ".pt"), ("safetensors", ".safetensors"),
                                        (None, ".safetensors")])
def test_state_dict_formats_load_back(run_dir, tmp_path, fmt, suffix):
    out = tmp_path / f"bb{suffix}"
    r = _run("export", run_dir, "--out", out, *(["--format", fmt] if fmt else []))
    assert r.exit_code == 0, r.output
    assert f"as {suffix[1:]} to" in " ".join(r.output.split())
    model = vssl.load_backbone(out)  # no name given: .pt by its tensors, .safetensors by its metadata
    x = _clip()
    torch.testing.assert_close(_features(model, x), _features(_trained(run_dir), x))


def test_safetensors_metadata_and_plain_pt(run_dir, tmp_path):
    from safetensors import safe_open

    _run("export", run_dir, "--out", tmp_path / "bb.safetensors")
    with safe_open(str(tmp_path / "bb.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["vssl_backbone"] == "tiny" and meta["vssl_method"] == "moco" and meta["vssl_step"] == "2"
    assert meta["vssl_clip"] == "4x24" and meta["vssl_normalize"] == "kinetics"
    _run("export", run_dir, "--out", tmp_path / "bb.pt")
    sd = torch.load(tmp_path / "bb.pt", weights_only=True)
    from vssl.models import build_backbone

    build_backbone("tiny").load_state_dict(sd, strict=True)


def test_bad_format_clip_and_paths_are_one_line(run_dir, tmp_path):
    r = _run("export", run_dir, "--out", tmp_path / "x", "--format", "tflite")
    assert r.exit_code == 2 and "unknown export format 'tflite'; choose one of: pt, safetensors, onnx" in r.output
    r = _run("export", run_dir, "--out", tmp_path / "x.onnx", "--clip", "big")
    assert r.exit_code == 2 and "--clip must look like 16x112 (frames x crop), not 'big'" in r.output
    r = _run("export", tmp_path / "nothing", "--out", tmp_path / "x.safetensors")
    assert r.exit_code == 2 and "run directory not found" in r.output
    with pytest.raises(InputError, match="is an ONNX model: run it with onnxruntime"):
        vssl.load_backbone(tmp_path / "m.onnx")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="is not a readable safetensors file"):
        vssl.load_backbone(tmp_path / "junk.safetensors")


def test_missing_optional_package_says_which_extra(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    r = _run("export", run_dir, "--out", tmp_path / "bb.safetensors")
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert ("this needs the safetensors package: pip install safetensors (vssl's export extra is onnx, onnxscript, "
            "onnxruntime and safetensors)") in text
    assert not (tmp_path / "bb.safetensors").exists()


def _onnx_matches_torch(path, model, clip):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'vssl[export]')")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, outp.name) == ("clip", "features")
    assert not isinstance(inp.shape[0], int)  # a named, dynamic batch dimension
    t, s = clip
    for batch in (1, 3):  # neither is the traced batch (2)
        x = torch.randn(batch, 3, t, s, s, generator=torch.Generator().manual_seed(batch))
        (got,) = session.run(None, {"clip": x.numpy()})
        torch.testing.assert_close(torch.from_numpy(got), _features(model, x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_onnx_export_of_a_run(run_dir, tmp_path):
    pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'vssl[export]')")
    import onnx

    out = tmp_path / "bb.onnx"
    r = _run("export", run_dir, "--out", out)
    assert r.exit_code == 0, r.output
    assert "input (batch, 3, 4, 24, 24), dynamic batch) as onnx" in " ".join(r.output.split())
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["vssl_backbone"] == "tiny" and meta["vssl_clip"] == "4x24"
    _onnx_matches_torch(out, _trained(run_dir), (4, 24))


# The ONNX export of s3d, swin3d_t and mvit_v2_s takes 20 s, 85 s and 200 s on 2 CPU cores (they
# passed on 2026-12-02): with them `make test` would pass its 10-minute budget, so they run when
# asked for (VSSL_TEST_ALL_EXPORTS=1 pytest tests/test_export.py); r3d_18 and c3d always run.
_ALL_EXPORTS = os.environ.get("VSSL_TEST_ALL_EXPORTS") == "1"
_ON_REQUEST = pytest.mark.skipif(not _ALL_EXPORTS, reason="slow ONNX export: set VSSL_TEST_ALL_EXPORTS=1")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["r3d_18", "c3d", *(pytest.param(n, marks=_ON_REQUEST)
                                                      for n in ("s3d", "swin3d_t", "mvit_v2_s"))])
def test_onnx_matches_torch_for_the_backbones(tmp_path, name):
    pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'vssl[export]')")
    from vssl.export import export_onnx
    from vssl.models import build_backbone

    torch.manual_seed(0)
    model = build_backbone(name).eval()
    clip = (8, 64)  # small, and the smallest S3D takes is 8x32
    export_onnx(model, tmp_path / f"{name}.onnx", clip, {"vssl_backbone": name}, name=name)
    _onnx_matches_torch(tmp_path / f"{name}.onnx", model, clip)


@pytest.mark.slow
def test_a_diff_run_exports_its_input(tmp_path_factory, tmp_path):
    """A data.input=diff run: the safetensors say so and load into a model that takes frames; the ONNX
    graph takes frames and differences them."""
    from helpers.training import build_tiny_cache, tiny_config

    from vssl.ops.frames import frame_differences
    from vssl.train.loop import pretrain

    cache = build_tiny_cache(tmp_path_factory.getbasetemp() / "vssl_tiny")
    run = tmp_path / "diff_run"
    pretrain(tiny_config("moco", cache, **{"data.input": "diff"}), run, quiet=True)
    bare = _trained(run)  # the plain backbone vssl eval holds (it feeds differences itself)
    x = _clip()
    want = _features(bare, frame_differences(x))
    pytest.importorskip("safetensors", reason="safetensors not installed (pip install 'vssl[export]')")
    r = _run("export", run, "--out", tmp_path / "bb.safetensors")
    assert r.exit_code == 0, r.output
    from safetensors import safe_open

    with safe_open(str(tmp_path / "bb.safetensors"), framework="pt") as f:
        assert f.metadata()["vssl_input"] == "diff"
    torch.testing.assert_close(_features(vssl.load_backbone(tmp_path / "bb.safetensors"), x), want)
    pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'vssl[export]')")
    r = _run("export", run, "--out", tmp_path / "bb.onnx")
    assert r.exit_code == 0, r.output
    ort = pytest.importorskip("onnxruntime")
    (got,) = ort.InferenceSession(str(tmp_path / "bb.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"clip": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-4)
