"""`vssl pretrain --monitor knn`: rows at the right steps, once across a resume, the same value as
`vssl eval knn` on the same checkpoint and videos, shown by `vssl report`; layering of the imports."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from helpers.training import tiny_config
from typer.testing import CliRunner

from vssl.train.checkpoint import checkpoint_path, load_checkpoint
from vssl.train.logging import read_metrics
from vssl.train.loop import pretrain
from vssl.train.monitor import balanced_subset, monitor_every

VSSL = Path(__file__).resolve().parents[2] / "vssl"


def _monitor_rows(run: Path) -> list[dict]:
    return [r for r in read_metrics(run) if "knn_top1" in r]


def _module_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text("utf-8")).body:  # top-level statements only
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module + "".join(f" {a.name}" for a in node.names))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_train_imports_no_eval_and_the_eval_pieces_no_train_at_module_level():
    for p in (VSSL / "train").glob("*.py"):
        assert not [m for m in _module_level_imports(p) if m.startswith("vssl.eval")], p
    for name in ("features", "knn", "retrieval", "linear"):
        assert not [m for m in _module_level_imports(VSSL / "eval" / f"{name}.py") if m.startswith("vssl.train")]


def test_balanced_subset_is_fixed_seeded_and_covers_the_classes():
    vids = [SimpleNamespace(id=f"v{i}", label=i % 5) for i in range(40)]
    a = balanced_subset(vids, 10, seed=0, salt=0)
    assert a == balanced_subset(vids, 10, seed=0, salt=0)  # fixed
    assert [v.id for v in a] == sorted((v.id for v in a), key=lambda s: int(s[1:]))  # cache order
    assert np.bincount([v.label for v in a], minlength=5).tolist() == [2] * 5  # balanced
    assert a != balanced_subset(vids, 10, seed=1, salt=0)
    assert balanced_subset(vids, 99, seed=0, salt=0) == vids
    assert monitor_every(0, 1000) == 50 and monitor_every(0, 7) == 1 and monitor_every(3, 1000) == 3


def test_rows_at_the_right_steps_once_across_a_resume_and_training_unchanged(tiny_cache, tmp_path):
    over = {"optim.steps": 5, "run.save_every": 3, "run.monitor": "knn", "run.monitor_every": 2}
    cfg = tiny_config("moco", tiny_cache, **over)
    pretrain(cfg, tmp_path / "b", quiet=True, stop_after=4)  # "killed" after step 4; checkpoint at 3
    assert load_checkpoint(checkpoint_path(tmp_path / "b"))["step"] == 3
    assert [r["step"] for r in _monitor_rows(tmp_path / "b")] == [0, 2, 4]
    s = pretrain(cfg, tmp_path / "b", quiet=True)
    assert s["resumed_from"] == 3
    rows = _monitor_rows(tmp_path / "b")
    assert [r["step"] for r in rows] == [0, 2, 4, 5]  # step 4 of the stopped run dropped, redone once
    assert all(0 <= r["knn_top1"] <= 1 and r["monitor_seconds"] > 0 and 0 < r["monitor_fraction"] < 1 for r in rows)
    mon = json.loads((tmp_path / "b" / "run.json").read_text())["monitor"]
    assert mon["calls"] == 2 and mon["gallery_videos"] == 9 and mon["query_videos"] == 3  # this process: 4, 5
    assert s["monitor"]["knn_top1"] == rows[-1]["knn_top1"]
    # the monitor leaves training as it was: the same losses as a run without it
    plain = pretrain(tiny_config("moco", tiny_cache, **{**over, "run.monitor": "none"}), tmp_path / "a", quiet=True)
    assert plain["monitor"] is None and not _monitor_rows(tmp_path / "a")
    def loss(run):
        return [(r["step"], r["loss"]) for r in read_metrics(run) if "loss" in r]

    assert loss(tmp_path / "b") == loss(tmp_path / "a")


def test_value_equals_eval_knn_on_the_same_checkpoint_and_videos_and_report_shows_it(tiny_cache, tmp_path):
    from vssl.cli.main import app
    from vssl.eval.checkpoints import load_backbone
    from vssl.eval.features import load_features
    from vssl.train.monitor import KnnMonitor

    run = tmp_path / "run"
    cfg = tiny_config("moco", tiny_cache, **{"optim.steps": 3, "run.monitor": "knn", "run.monitor_every": 3,
                                             "run.monitor_clips": 2})
    pretrain(cfg, run, quiet=True)
    last = _monitor_rows(run)[-1]
    assert last["step"] == 3
    runner = CliRunner()
    r = runner.invoke(app, ["eval", "knn", "--cache", str(tiny_cache), "--checkpoint", str(run), "--out",
                            str(tmp_path / "ev"), "--clips", "2", "--workers", "0", "--device", "cpu", "--quiet"])
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())["results"]["knn"]
    assert ev["options"]["k"] == 20 and ev["sizes"]["test_videos"] == 3
    assert last["knn_top1"] == round(ev["metrics"]["top1"], 6)  # metrics.jsonl: 6 digits
    # the features themselves: the monitor on the checkpoint's backbone == eval's cached features
    mon = KnnMonitor(cfg, torch.device("cpu"), batch_size=4)
    model, _ = load_backbone(run, None)
    mon(model)
    for got, subset in zip(mon.last_features, ("train", "test")):
        want = load_features(tmp_path / "ev" / "features" / f"{subset}.npz")
        assert got.video_ids == want.video_ids and np.array_equal(got.clip_index, want.clip_index)
        np.testing.assert_allclose(got.clip_feats, want.clip_feats, rtol=1e-5, atol=1e-6)
    r = runner.invoke(app, ["report", str(run), str(tmp_path / "ev"), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text()
    lines = md.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("| run |"))
    header, row = lines[i], lines[i + 2]  # one row: the run with its eval joined
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["monitor/knn_top1"] == f"{100 * last['knn_top1']:.1f}"
    assert (tmp_path / "rep" / "monitor_knn.png").stat().st_size > 0 and "monitor_knn.png" in md
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [s for s, _ in doc["runs"][0]["monitor"]] == [0, 3]
