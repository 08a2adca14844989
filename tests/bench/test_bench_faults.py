"""`vssl bench faults`: the table, the exit code and the scenario names (the scenarios themselves are
what tests/faults/ runs; the bench reruns them from the command line)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import vssl.bench.faults as F
from vssl.cli.main import app


def test_table_rows_and_exit_code(monkeypatch, tmp_path):
    seen = {}

    def fake(**kw):
        seen.update(kw)
        return [F.Outcome("extract, SIGKILL", "12 videos once", "3 kills: 12 videos", True, 1.5),
                F.Outcome("pretrain, SIGKILL", "weights equal", "weights DIFFER", False, 2.0),
                F.Outcome("read-only cache", "one line", "skipped (no tmpfs mount)", None, 0.0)]

    monkeypatch.setattr(F, "run_faults", fake)
    r = CliRunner().invoke(app, ["bench", "faults", "--kills", "2", "--only", "extract,pretrain",
                                 "--json", str(tmp_path / "f.json")])
    assert r.exit_code == 1, r.output  # a failed scenario
    text = " ".join(r.output.split())
    assert "pass" in text and "FAIL" in text and "skipped" in text and "weights DIFFER" in text
    assert seen["kills"] == 2 and seen["only"] == ("extract", "pretrain")
    assert [row["passed"] for row in json.loads((tmp_path / "f.json").read_text())] == [True, False, None]
    monkeypatch.setattr(F, "run_faults", lambda **kw: fake(**kw)[:1])
    assert CliRunner().invoke(app, ["bench", "faults"]).exit_code == 0


def test_unknown_scenario_is_one_line():
    r = CliRunner().invoke(app, ["bench", "faults", "--only", "extract,nosuch"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "unknown fault scenario 'nosuch'" in " ".join(r.output.split())


def test_precompute_scenario_compares_every_video_with_the_uninterrupted_run(tmp_path):
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    src, cache = tmp_path / "src", tmp_path / "cache"
    make_synth(src, classes=2, videos_per_class=2, size=(64, 48), frames=16, seed=0, progress=False)
    extract(src, cache, ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    (tmp_path / "s").mkdir()
    o = F.precompute_kills(tmp_path / "s", cache, 0, __import__("random").Random(0))
    assert o.passed, o.observed
    assert "fame: 0 kills" in o.observed and "4/4 videos equal" in o.observed and "verify exit 0" in o.observed
    # a video whose arrays differ from the reference run's is caught
    m = tmp_path / "s" / "killed" / "be" / "manifest.json"
    doc = json.loads(m.read_text())
    doc["videos"][0]["checksum"] = "0" * 32
    m.write_text(json.dumps(doc))
    assert F._precomputed(tmp_path / "s" / "killed", "be") != F._precomputed(tmp_path / "s" / "ref", "be")
