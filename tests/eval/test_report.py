"""vssl.eval.report: the collapse-monitor figure of pretraining runs that log it."""

from __future__ import annotations

import json

from vssl.eval.report import build_report, read_loss


def _run(path, keys):
    path.mkdir(parents=True)
    rows = [{"step": s, "loss": 1.0 / s, **{k: 10.0 - s for k in keys}} for s in range(1, 6)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 6, "lo')  # cut line


def test_collapse_monitor_curves_in_the_report(tmp_path):
    _run(tmp_path / "byol", ("rep_rank", "emb_rank"))
    _run(tmp_path / "moco", ())
    assert read_loss(tmp_path / "byol", "rep_rank")[:2] == [(1.0, 9.0), (2.0, 8.0)]
    assert read_loss(tmp_path / "moco", "rep_rank") == []
    r = build_report([tmp_path / "byol", tmp_path / "moco"], tmp_path / "rep")
    assert (tmp_path / "rep" / "collapse_rep_rank.png").is_file() and (tmp_path / "rep" / "collapse_emb_rank.png").is_file()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "effective rank of the backbone features" in md and "collapse_rep_rank.png" in md
    assert any(f.endswith("collapse_rep_rank.png") for f in r["files"])
    build_report([tmp_path / "moco"], tmp_path / "rep2")
    assert not list((tmp_path / "rep2").glob("collapse_*.png"))  # nothing logged, no figure


def test_feature_spectrum_and_plot(tmp_path):
    import numpy as np

    from vssl.eval.plots import plot_spectrum
    from vssl.eval.protocols import feature_spectrum

    # 4 rows +-e1, +-e2 (centred): two equal singular values, effective rank 2
    x = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]])
    s = feature_spectrum(x)
    assert np.allclose(s["singular_values"][:2], np.sqrt(2))
    assert abs(s["effective_rank"] - 2.0) < 1e-9 and abs(s["singular_values"][2]) < 1e-12
    assert feature_spectrum(x[:1]) == {"singular_values": [], "effective_rank": None}
    p = plot_spectrum({"a": s["singular_values"], "empty": []}, tmp_path / "s.png")
    assert p.is_file() and p.stat().st_size > 0


def _eval_dir(path, checkpoint, results, cache="ucf101"):
    path.mkdir(parents=True)
    doc = {"format": "vssl-eval", "checkpoint": checkpoint, "cache": {"root": f"/data/{cache}", "split": "1"},
           "results": {k: {"metrics": v} for k, v in results.items()}}
    (path / "metrics.json").write_text(json.dumps(doc))


def test_one_row_per_run_with_its_evaluations_joined(tmp_path):
    run = tmp_path / "runs" / "dsm"
    _run(run, ())
    (run / "config.yaml").write_text("method: dsm\nbackbone: r3d_18\ncache: /data/ucf101\n"
                                     "optim: {epochs: 200, batch_size: 64}\n")
    (run / "run.json").write_text(json.dumps({"batch_size": 48, "batch_size_requested": 64}))
    ck = {"path": str(run), "backbone": "r3d_18", "method": "dsm", "step": 5}
    _eval_dir(tmp_path / "evals" / "dsm", ck, {"retrieval": {"video/R@1": 0.25}, "knn": {"top1": 0.3}})
    _eval_dir(tmp_path / "evals" / "dsm-ft", ck, {"finetune": {"top1": 0.5}})
    _eval_dir(tmp_path / "evals" / "random", {"source": "random_init", "backbone": "r3d_18", "method": "random_init"},
              {"retrieval": {"video/R@1": 0.1}, "knn": {"top1": 0.35}})
    r = build_report([tmp_path / "evals" / "dsm", tmp_path / "evals" / "random", run, tmp_path / "evals" / "dsm-ft"],
                     tmp_path / "rep")
    assert [x.name for x in r["runs"]] == ["dsm", "random"]
    dsm, rnd = r["runs"]
    assert dsm.kind == "pretrain+eval" and dsm.batch == 48 and dsm.epochs == 200 and len(dsm.joined) == 2
    assert dsm.metrics == {"retrieval/video/R@1": 0.25, "knn/top1": 0.3, "finetune/top1": 0.5}
    md = (tmp_path / "rep" / "report.md").read_text().splitlines()
    table = [ln for ln in md if ln.startswith("|")]
    assert len(table) == 4  # header, alignment, two runs
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:4] == ["run", "method", "backbone", "data"] and "finetune/top1" in header
    assert "checkpoint" not in header and "kind" not in header
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.strip("|").split("|")] for ln in table[2:]}
    col = header.index("retrieval/video/R@1")
    assert rows["dsm"][col] == "**25.0**" and rows["random"][col] == "10.0"
    knn = header.index("knn/top1")
    assert rows["random"][knn] == "**35.0**" and rows["dsm"][header.index("finetune/top1")] == "50.0"
    assert rows["random"][header.index("batch")] == "-" and rows["dsm"][header.index("batch")] == "48"
    assert set(table[1].strip("|").split("|")) <= {"---", "---:"}


def test_evals_of_one_run_without_the_run_directory_are_one_row(tmp_path):
    run = tmp_path / "runs" / "moco"
    _run(run, ())
    (run / "config.yaml").write_text("method: moco\nbackbone: tiny\n")
    ck = {"path": str(run / "checkpoints" / "last.pt"), "backbone": "tiny", "method": "moco"}
    (run / "checkpoints").mkdir()
    _eval_dir(tmp_path / "e1", ck, {"linear": {"top1": 0.4}})
    _eval_dir(tmp_path / "e2", ck, {"knn": {"top1": 0.2}}, cache="hmdb51")
    r = build_report([tmp_path / "e1", tmp_path / "e2"], tmp_path / "rep")
    (row,) = r["runs"]
    assert row.name == "moco" and row.metrics == {"linear/top1": 0.4, "knn/top1": 0.2}
    assert row.eval_data == "ucf101 (split 1), hmdb51 (split 1)"
