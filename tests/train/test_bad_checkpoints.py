"""Every bad checkpoint gives one line and an exit code, never a traceback: eval --checkpoint,
pretrain resuming from a damaged last.pt, export."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers.training import tiny_config
from typer.testing import CliRunner

from vssl.cli.main import app
from vssl.models import build_backbone
from vssl.train.checkpoint import checkpoint_path
from vssl.train.config import to_dict
from vssl.train.loop import pretrain


def _nan(sd):
    return {k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v) for k, v in sd.items()}


def _make(kind: str, path: Path, good: Path | None = None) -> Path:
    """A bad checkpoint of ``kind`` at ``path`` (``good``: a real file of the right kind to damage)."""
    sd = build_backbone("tiny").state_dict()
    if kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        b = good.read_bytes()
        path.write_bytes(b[: len(b) // 2])
    elif kind == "zip_of_junk":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", b"junk")
            z.writestr("archive/other", b"more junk")
    elif kind == "other_backbone":
        torch.save(build_backbone("r3d_10").state_dict(), path)
    elif kind == "nan":
        ck = torch.load(good, weights_only=True)
        if "model" in ck:  # a training checkpoint
            ck["model"] = _nan(ck["model"])
        else:
            ck = _nan(ck)
        torch.save(ck, path)
    elif kind == "newer":
        ck = torch.load(good, weights_only=True)
        if "model" not in ck:  # eval: a newer layout that does not fit; the message says why it may not
            ck = {"model": {f"backbone.{k}.new": v for k, v in ck.items()}}
        ck["vssl_version"] = "99.0.0"
        torch.save(ck, path)
    elif kind == "pickled_code":
        torch.save({"model": sd, "extra": np.float64(1.0)}, path)
    elif kind == "foreign_dict":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        raise AssertionError(kind)
    return path


def _one_line(res, code: int) -> str:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    errs = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1, res.output
    return errs[0]


@pytest.fixture(scope="module")
def run(tiny_cache, tmp_path_factory) -> tuple[Path, Path]:
    """A finished 2-step tiny run and its config file."""
    base = tmp_path_factory.mktemp("badck")
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": 2})
    conf = base / "moco.yaml"
    conf.write_text(yaml.safe_dump(to_dict(cfg)))
    pretrain(cfg, base / "run", quiet=True)
    return base / "run", conf


EVAL_CASES = {
    "text": "not a PyTorch file",
    "empty": "is empty",
    "truncated": "truncated or not a torch checkpoint",
    "zip_of_junk": "truncated or not a torch checkpoint",
    "other_backbone": "holds a 'r3d_10' backbone, not 'tiny'",
    "nan": "NaN or infinite",
    "newer": "newer than this vssl",
    "pickled_code": "could run code",
    "no_checkpoint_in_run_dir": "no checkpoint",
}


@pytest.mark.parametrize("kind", list(EVAL_CASES))
def test_eval_checkpoint_family(kind, run, tiny_cache, tmp_path):
    good = tmp_path / "good.pt"
    torch.save(build_backbone("tiny").state_dict(), good)
    if kind == "no_checkpoint_in_run_dir":
        ck = tmp_path / "rundir"
        ck.mkdir()
        shutil.copy(run[0] / "config.yaml", ck / "config.yaml")
    else:
        ck = _make(kind, tmp_path / f"{kind}.pt", good)
    args = ["eval", "knn", "--cache", str(tiny_cache), "--checkpoint", str(ck), "--backbone", "tiny",
            "--out", str(tmp_path / "ev"), "--device", "cpu", "-q", "-j", "0", "--clips", "1", "--clip-len", "4",
            "--resize", "32", "--size", "24"]
    line = _one_line(CliRunner().invoke(app, args), 2)
    assert EVAL_CASES[kind] in line and str(ck) in line


RESUME_CASES = {
    "text": "cannot read checkpoint",
    "empty": "is empty",
    "truncated": "cannot read checkpoint",
    "zip_of_junk": "cannot read checkpoint",
    "foreign_dict": "is not a vssl pretrain checkpoint",
    "other_backbone": "is not a vssl pretrain checkpoint",
    "nan": "NaN or infinite weights",
    "newer": "newer than this vssl",
}


@pytest.mark.parametrize("kind", list(RESUME_CASES))
def test_resume_and_export_from_a_bad_last_pt(kind, run, tmp_path):
    rd = tmp_path / "run"
    shutil.copytree(run[0], rd)
    last = checkpoint_path(rd)
    good = tmp_path / "good.pt"
    shutil.copy(last, good)
    _make(kind, last, good)
    before = last.read_bytes()
    line = _one_line(CliRunner().invoke(app, ["pretrain", "--config", str(run[1]), "--out", str(rd), "-q"]), 3)
    assert RESUME_CASES[kind] in line and str(last) in line
    assert last.read_bytes() == before  # nothing overwritten
    line = _one_line(CliRunner().invoke(app, ["export", str(rd), "--out", str(tmp_path / "bb.pt")]), 3)
    assert str(last) in line and not (tmp_path / "bb.pt").exists()


def test_a_trusted_pickle_loads_when_asked(tmp_path, monkeypatch):
    from vssl.eval.checkpoints import load_backbone

    f = _make("pickled_code", tmp_path / "p.pt")
    monkeypatch.setenv("VSSL_TRUST_CHECKPOINTS", "1")
    model, meta = load_backbone(f, "tiny")
    assert meta["backbone"] == "tiny"
