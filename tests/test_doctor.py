"""`vssl doctor`: every part on its own line, real versions, and no crash when a part is missing."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.doctor import Finding, _probe, collect

runner = CliRunner()

NAMES = ("vssl", "python", "cores", "torch", "torchvision", "CUDA", "nvJPEG", "PyAV", "FFmpeg", "H.264", "mvextractor",
         "numba", "h5py", "hdf5plugin", "opencv", "wandb", "onnxruntime")


def _lines(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        parts = line[3:].split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def test_report_names_every_part_with_its_version():
    import av
    import h5py
    import hdf5plugin
    import numba
    import torch
    import torchvision

    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    lines = _lines(r.output)
    assert set(NAMES) <= set(lines), sorted(set(NAMES) - set(lines))
    assert lines["torch"].startswith(torch.__version__)
    assert lines["torchvision"] == torchvision.__version__
    assert lines["PyAV"] == av.__version__
    assert "libavcodec " + ".".join(map(str, av.library_versions["libavcodec"])) in lines["FFmpeg"]
    assert lines["numba"].startswith(numba.__version__)
    assert lines["h5py"] == f"{h5py.__version__} (HDF5 {h5py.version.hdf5_version})"
    assert lines["hdf5plugin"].startswith(hdf5plugin.version) and "LZ4" in lines["hdf5plugin"]
    assert lines["cores"].startswith(f"{len(__import__('os').sched_getaffinity(0))} usable")
    if not torch.cuda.is_available():
        assert lines["CUDA"].startswith("not available") and lines["nvJPEG"].startswith("n/a")


def test_json_report():
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    names = [f["name"] for f in doc["findings"]]
    assert set(NAMES) <= set(names)
    assert all(set(f) == {"name", "value", "ok", "required"} for f in doc["findings"])
    assert isinstance(doc["environment"], dict)


def test_missing_required_package_is_a_line_and_exit_1(monkeypatch):
    for mod in ("av", "av.codec", "mvextractor"):
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    lines = _lines(r.output)
    assert lines["PyAV"].startswith("not installed") and lines["mvextractor"].startswith("not installed")
    assert lines["torch"] and lines["h5py"]  # the other probes still ran
    assert "problem: PyAV, FFmpeg, H.264, mvextractor missing or broken" in " ".join(r.output.split())


def test_missing_optional_package_is_no_problem(monkeypatch):
    for mod in ("wandb", "onnxruntime", "numba"):
        monkeypatch.setitem(sys.modules, mod, None)
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    lines = _lines(r.output)
    assert lines["wandb"].startswith("not installed") and lines["numba"].startswith("not installed")


def test_a_probe_that_raises_becomes_a_finding():
    def broken():
        raise OSError("libavcodec.so.62: cannot open shared object file\nmore detail")

    f = _probe("PyAV", broken)
    assert f == Finding("PyAV", "broken (OSError: libavcodec.so.62: cannot open shared object file)", False, True)
    assert f.problem and not _probe("wandb", broken, required=False).problem


def test_nvjpeg_that_decodes_on_the_cpu_is_reported_broken(monkeypatch):
    import torch
    import torchvision.io

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torchvision.io, "decode_jpeg", lambda data, device="cpu": torch.zeros(3, 16, 16))
    nvjpeg = next(f for f in collect() if f.name == "nvJPEG")
    assert not nvjpeg.ok and not nvjpeg.required
    assert nvjpeg.value.startswith("broken (RuntimeError: decode_jpeg gave (3, 16, 16) on cpu")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_nvjpeg_decodes_on_the_gpu():
    nvjpeg = next(f for f in collect() if f.name == "nvJPEG")
    assert nvjpeg.ok and nvjpeg.value.startswith("works"), nvjpeg.value
