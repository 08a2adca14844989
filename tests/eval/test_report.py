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
