"""`vssl bench science` end to end on a tiny configuration, and its verdict logic."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from vssl.bench.science import ScienceConfig, run_science
from vssl.bench.science_tables import summarise, verdicts
from vssl.errors import InputError


def _runs(p: float, seeds: int = 2, q: int = 96, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{k: (rng.random(q) < p).astype(int).tolist() for k in ("r1", "r5", "linear", "bg1")}
            for _ in range(seeds)]


def test_verdicts_follow_the_intervals():
    outcomes = {
        "none": {"random": _runs(0.125, seed=1), "moco": _runs(0.125, seed=2), "good": _runs(0.6, seed=3),
                 "supervised-diff": _runs(0.9, seed=4)},
        "class": {"random": _runs(0.125, seed=5), "moco": _runs(0.5, seed=6), "good": _runs(0.1, seed=7)},
    }
    # "good": on class, action R@1 0.1 (not above random), so it does not shed the scene by the rule
    s = summarise(outcomes, n_boot=500)
    v = s["verdicts"]
    assert v["good"] == "learns motion"
    assert v["moco"] == "no evidence"
    assert "supervised-diff" not in v and "random" not in v
    t = s["table"]["none"]["good"]
    assert t["r1-random"]["lo"] > 0 and t["r1"]["lo"] < t["r1"]["mean"] < t["r1"]["hi"]
    outcomes["class"]["good"] = [{**r, "r1": _runs(0.5, seed=8)[i]["r1"], "bg1": _runs(0.05, seed=9)[i]["bg1"]}
                                 for i, r in enumerate(outcomes["class"]["good"])]
    assert verdicts(summarise(outcomes, n_boot=500)["table"])["good"] == "learns motion, sheds scene"


def test_diff_rows_are_compared_with_the_same_input():
    outcomes = {"none": {"random": _runs(0.125, seed=1), "moco": _runs(0.125, seed=2),
                         "random+diff": _runs(0.5, seed=3), "moco+diff": _runs(0.55, seed=4)}}
    s = summarise(outcomes, n_boot=500)
    row = s["table"]["none"]["moco+diff"]
    # against random+diff (0.5), not the RGB random network (0.125): no evidence of learning
    assert row["r1-random"]["lo"] < 0 < row["r1-random"]["hi"]
    assert abs(row["r1-random"]["mean"] - (row["r1"]["mean"] - s["table"]["none"]["random+diff"]["r1"]["mean"])) < 1e-9
    assert s["verdicts"]["moco+diff"] == "no evidence" and "random+diff" not in s["verdicts"]


def test_bad_options_are_one_line(tmp_path):
    with pytest.raises(InputError, match="unknown method 'swav'"):
        run_science(ScienceConfig(out=tmp_path, methods=("swav",)))
    with pytest.raises(InputError, match="regimes"):
        run_science(ScienceConfig(out=tmp_path, regimes=("scene",)))
    with pytest.raises(InputError, match="inputs"):
        run_science(ScienceConfig(out=tmp_path, inputs=("flow",)))
    with pytest.raises(InputError, match="--camera must be auto or one of static, pan"):
        run_science(ScienceConfig(out=tmp_path, camera="zoom"))


def test_science_tiny_end_to_end_and_resumes(tmp_path):
    # the class regime only (the none regime differs in the synth data alone, tested in test_synth.py)
    cfg = ScienceConfig(out=tmp_path / "sci", methods=("moco",), seeds=1, steps=2, classes=3, videos_per_class=4,
                        regimes=("class",),
                        size=(64, 48), frames=24, cache_size=48, workers=0, n_boot=200, controls=True, jobs=1,
                        extra={"data.clip_len": 4, "data.load_size": [32, 42], "moco.crop": 24,
                               "supervised.crop": 24})
    r = run_science(cfg)
    doc = json.loads((tmp_path / "sci" / "science.json").read_text())
    assert set(doc["table"]) == {"class"}
    names = set(doc["table"]["class"])  # the default input (differences), and RGB's random network for its control
    assert names == {"random", "random+diff", "moco+diff", "supervised-rgb", "supervised-diff"}
    t = doc["table"]["class"]
    assert "bg1" in t["moco+diff"] and "r1-random" in t["moco+diff"]
    for control, input in (("supervised-rgb", "rgb"), ("supervised-diff", "diff")):  # each against its own input
        own = np.array([o["r1"] for o in doc["outcomes"]["class"][control]]) - np.array(
            [o["r1"] for o in doc["outcomes"]["class"]["random" if input == "rgb" else "random+diff"]])
        assert abs(t[control]["r1-random"]["mean"] - own.mean()) < 1e-9
    assert doc["meta"]["test_videos"] == 6
    synth_meta = json.loads((tmp_path / "sci" / "data" / "synth-class" / "synth.json").read_text())
    assert synth_meta["params"]["camera"] == "pan" and doc["meta"]["cameras"] == {"class": "pan"}  # --camera auto
    assert set(doc["verdicts"]) == {"moco+diff"}
    run_cfg = (tmp_path / "sci" / "runs" / "class" / "moco+diff" / "seed0" / "config.yaml").read_text()
    assert "input: diff" in run_cfg
    from vssl.bench.science import summarise_dir

    again = summarise_dir(tmp_path / "sci", n_boot=200)  # every row in the directory, nothing trained
    assert list(again["summary"]["table"]["class"]) == ["random", "random+diff", "moco+diff",
                                                       "supervised-rgb", "supervised-diff"]
    assert again["summary"]["table"]["class"]["moco+diff"]["r1"] == t["moco+diff"]["r1"]
    with pytest.raises(InputError, match="no evaluated random network"):
        summarise_dir(tmp_path / "empty")
    assert (tmp_path / "sci" / "science.png").read_bytes()[:4] == b"\x89PNG"
    assert "| moco+diff |" in r["markdown"]
    assert set(doc["coverage"]) == {"class"} and 0 < doc["coverage"]["class"]["object_area"] < 1
    assert "How much of the moving object" in r["markdown"]
    # a rerun reuses every run and evaluation
    mtime = (tmp_path / "sci" / "eval" / "class" / "moco+diff" / "seed0" / "outcomes.json").stat().st_mtime_ns
    run_science(cfg)
    assert (tmp_path / "sci" / "eval" / "class" / "moco+diff" / "seed0" / "outcomes.json").stat().st_mtime_ns == mtime


def test_quick_is_one_seed_fewer_methods_and_steps(tmp_path):
    from vssl.bench.science import QUICK_METHODS, QUICK_STEPS, quick_config

    q = quick_config(ScienceConfig(out=tmp_path))
    assert (q.seeds, q.methods, q.steps) == (1, QUICK_METHODS, QUICK_STEPS)
    q = quick_config(ScienceConfig(out=tmp_path, methods=("cmd",), steps=7))
    assert (q.methods, q.steps) == (("cmd",), 7)


def test_default_methods_and_inputs(tmp_path):
    from vssl.bench.science import CORE_METHODS, all_methods, chosen_methods, takes_input

    assert chosen_methods(ScienceConfig(out=tmp_path)) == CORE_METHODS
    assert chosen_methods(ScienceConfig(out=tmp_path, methods=("dsm",))) == ("moco", "dsm")
    every = chosen_methods(ScienceConfig(out=tmp_path, methods=("all",)))
    assert set(every) == set(all_methods()) and "supervised" not in every
    cfg = ScienceConfig(out=tmp_path)
    assert cfg.inputs == ("diff",)  # RGB rows on request: at this budget even labels find no motion in RGB
    assert takes_input(cfg, "moco", "diff") and takes_input(cfg, "videomae", "rgb")
    assert not takes_input(cfg, "videomae", "diff")  # a ViT cuts tubelets of the frames


def test_rows_with_fewer_seeds_are_paired_on_the_seeds_they_share():
    random2 = _runs(0.125, seeds=2, seed=1)
    one = _runs(0.5, seeds=1, seed=2)
    s = summarise({"none": {"random": random2, "moco": _runs(0.125, seeds=2, seed=3), "new": one}}, n_boot=300)
    d = s["table"]["none"]["new"]["r1-random"]
    assert abs(d["mean"] - (np.mean(one[0]["r1"]) - np.mean(random2[0]["r1"]))) < 1e-9


def test_a_method_of_another_backbone_is_compared_with_a_random_network_of_its_own():
    from vssl.bench.science_tables import baselines_of, is_random, method_backbone

    assert method_backbone("demo", "videomae") == "vit_tiny" and method_backbone("demo", "moco") is None
    assert baselines_of("videomae") == ("random-vit_tiny", "moco")
    assert baselines_of("moco+diff") == ("random+diff", "moco+diff")
    assert is_random("random-vit_tiny") and is_random("random+diff") and not is_random("moco")
    outcomes = {"none": {"random": _runs(0.5, seed=1), "random-vit_tiny": _runs(0.125, seed=2),
                         "moco": _runs(0.125, seed=3), "videomae": _runs(0.3, seed=4)}}
    s = summarise(outcomes, n_boot=300)
    row, t = s["table"]["none"]["videomae"], s["table"]["none"]
    # against the random ViT (0.125), not the random tiny CNN (0.5)
    assert abs(row["r1-random"]["mean"] - (row["r1"]["mean"] - t["random-vit_tiny"]["r1"]["mean"])) < 1e-9
    assert s["verdicts"]["videomae"] == "learns motion" and "random-vit_tiny" not in s["verdicts"]


def test_core_groups_split_the_allowed_cores(monkeypatch):
    import os

    from vssl.bench import science

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 5}, raising=False)
    assert science._core_groups(2) == [[0, 2, 5], [1, 3]]
    assert science._core_groups(5) == [[0], [1], [2], [3], [5]]
    assert science._core_groups(7) == [[0], [1], [2], [3], [5], [0], [1]]  # more jobs than cores: shared
    assert science.auto_jobs("cpu") == 4 and science.auto_jobs("cuda") == 1  # --jobs 0: one per core, at most 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert science.auto_jobs("cpu") == 1


def test_science_jobs_run_the_rows_in_a_pool(tmp_path):
    """--jobs 2: every row's seed runs in a pool of two spawned processes; the tables have the
    rows the sequential benchmark gives, and a sequential rerun reuses every run and evaluation.
    (On a panning camera's data: the --camera path costs nothing more here.)"""
    cfg = ScienceConfig(out=tmp_path / "sci", methods=("moco",), seeds=1, steps=2, classes=3, videos_per_class=4,
                        regimes=("class",), inputs=("rgb",), jobs=2, size=(64, 48), frames=24, cache_size=48,
                        workers=0, n_boot=200, controls=False, camera="pan",
                        extra={"data.clip_len": 4, "data.load_size": [32, 42], "moco.crop": 24})
    r = run_science(cfg)
    assert list(r["summary"]["table"]["class"]) == ["random", "moco"]
    synth_meta = json.loads((tmp_path / "sci" / "data" / "synth-class" / "synth.json").read_text())
    assert synth_meta["params"]["camera"] == "pan" and "panning camera" in r["markdown"].splitlines()[0]
    assert r["meta"]["config"]["jobs"] == 2
    got = tmp_path / "sci" / "eval" / "class" / "moco" / "seed0" / "outcomes.json"
    mtime = got.stat().st_mtime_ns
    again = run_science(dataclasses.replace(cfg, jobs=1))
    assert got.stat().st_mtime_ns == mtime
    assert again["summary"]["table"] == r["summary"]["table"]
    with pytest.raises(InputError, match="--jobs must be >= 1"):
        run_science(dataclasses.replace(cfg, jobs=-1))


def test_replications_pool_into_one_table():
    """Two datasets of one configuration: each row's interval pools both (narrower than either), a
    paired difference is taken within each dataset, rows missing from one dataset are left out."""
    a = {"class": {"random": _runs(0.2, seed=1), "moco": _runs(0.3, seed=2), "fame": _runs(0.35, seed=3),
                   "only-here": _runs(0.5, seed=4)}}
    b = {"class": {"random": _runs(0.2, seed=5), "moco": _runs(0.3, seed=6), "fame": _runs(0.35, seed=7)}}
    one, both = summarise(a, n_boot=800)["table"]["class"], summarise([a, b], n_boot=800)["table"]["class"]
    assert "only-here" in one and "only-here" not in both
    for key in ("r1", "r1-random", "bg1-moco"):
        assert both["fame"][key]["hi"] - both["fame"][key]["lo"] < one["fame"][key]["hi"] - one["fame"][key]["lo"]
    want = np.mean([np.mean([r["r1"] for r in o["class"]["fame"]]) - np.mean([r["r1"] for r in o["class"]["random"]])
                    for o in (a, b)])
    assert abs(both["fame"]["r1-random"]["mean"] - want) < 1e-9
    assert summarise([a], n_boot=800)["table"] == summarise(a, n_boot=800)["table"]  # one dataset: as before


def _bench_dir(root, data_seed: int, camera: str = "pan") -> None:
    for name, p in (("random+diff", 0.2), ("moco+diff", 0.3), ("fame+diff", 0.35)):
        for k, r in enumerate(_runs(p, seed=10 * data_seed + len(name))):
            d = root / "eval" / "class" / name / f"seed{k}"
            d.mkdir(parents=True)
            (d / "outcomes.json").write_text(json.dumps(r))
    (root / "data" / "synth-class").mkdir(parents=True)
    (root / "data" / "synth-class" / "synth.json").write_text(json.dumps(
        {"class_names": list("abcdefgh"), "params": {"seed": data_seed, "camera": camera, "classes": 8}}))


def test_auto_camera_is_per_regime_and_named_in_mixed_tables(tmp_path):
    from vssl.bench.science import AUTO_CAMERA, camera_of
    from vssl.bench.science_tables import markdown

    cfg = ScienceConfig(out=tmp_path)
    assert cfg.camera == "auto" and (camera_of(cfg, "none"), camera_of(cfg, "class")) == ("static", "pan")
    assert AUTO_CAMERA == {"none": "static", "class": "pan"}
    assert camera_of(dataclasses.replace(cfg, camera="pan"), "none") == "pan"
    o = {"none": {"random": _runs(0.1, seeds=1), "moco": _runs(0.2, seeds=1, seed=1)},
         "class": {"random": _runs(0.1, seeds=1, seed=2), "moco": _runs(0.2, seeds=1, seed=3)}}
    meta = {"preset": "demo", "seeds": 1, "classes": 8, "test_videos": 96}
    md = markdown(summarise(o, n_boot=50), {**meta, "cameras": {"none": "static", "class": "pan"}})
    heads = [line for line in md.splitlines() if line.startswith("## bias")]
    assert heads[0].endswith("static camera") and heads[1].endswith("panning camera")
    assert "panning camera" not in md.splitlines()[0]
    md = markdown(summarise(o, n_boot=50), {**meta, "camera": "pan"})  # older results: one camera for both
    assert "panning camera" in md.splitlines()[0] and not any(h.endswith("camera") for h in md.splitlines()[1:]
                                                              if h.startswith("## bias"))


def test_summary_only_pools_directories(tmp_path):
    from vssl.bench.science import summarise_dir

    for s in (0, 2):
        _bench_dir(tmp_path / f"d{s}", s)
    r = summarise_dir(tmp_path / "pooled", n_boot=200, pool=(tmp_path / "d0", tmp_path / "d2"))
    assert (tmp_path / "pooled" / "science.md").exists() and "pooled over 2 datasets" in r["markdown"]
    assert "data seeds 0, 2" in r["markdown"] and r["meta"]["test_videos"] == 192
    assert set(r["summary"]["table"]["class"]) == {"random+diff", "moco+diff", "fame+diff"}
    with pytest.raises(InputError, match="same dataset"):
        summarise_dir(tmp_path / "p2", n_boot=50, pool=(tmp_path / "d0", tmp_path / "d0"))
    _bench_dir(tmp_path / "static", 3, camera="static")
    with pytest.raises(InputError, match="datasets of class differ in camera"):
        summarise_dir(tmp_path / "p3", n_boot=50, pool=(tmp_path / "d0", tmp_path / "static"))


def test_pool_cli(tmp_path):
    from typer.testing import CliRunner

    from vssl.cli.main import app

    for s in (0, 2):
        _bench_dir(tmp_path / f"d{s}", s)
    r = CliRunner().invoke(app, ["bench", "science", "--out", str(tmp_path / "p"), "--pool", f"{tmp_path}/d0"])
    assert r.exit_code != 0 and "add --summary-only" in " ".join(r.output.split()) and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["bench", "science", "--summary-only", "--out", str(tmp_path / "p"),
                                 "--pool", f"{tmp_path}/d0,{tmp_path}/d2"])
    assert r.exit_code == 0, r.output
    assert "pooled over 2 datasets" in r.output and (tmp_path / "p" / "science.json").exists()


def test_results_of_data_made_with_other_settings_are_never_mixed_with_new_data(tmp_path, monkeypatch):
    """A directory whose class regime was made on a static camera, rerun with --camera auto (class on a
    panning camera): one line naming the setting, nothing regenerated or removed; without results in
    the directory the data is simply made again."""
    from vssl.bench import science
    from vssl.bench.science import Log, prepare_data

    made = []
    monkeypatch.setattr("vssl.synth.make_synth", lambda src, **kw: made.append(kw["camera"]))
    monkeypatch.setattr("vssl.preprocess.extract.extract", lambda *a, **kw: None)
    cfg = ScienceConfig(out=tmp_path / "sci")
    synth = tmp_path / "sci" / "data" / "synth-class"
    synth.mkdir(parents=True)
    params = {"classes": 8, "videos_per_class": 24, "size": [128, 96], "frames": 48, "seed": 0,
              "test_fraction": 0.5, "bias": "class", "camera": "static"}
    (synth / "synth.json").write_text(json.dumps({"params": params}))
    kept = tmp_path / "sci" / "eval" / "class" / "random" / "seed0" / "outcomes.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}")
    with pytest.raises(InputError, match=r"class regime's runs.*camera 'static' -> 'pan'.*another --out"):
        prepare_data(cfg, "class", Log(True))
    assert kept.exists() and not made
    prepare_data(dataclasses.replace(cfg, camera="static"), "class", Log(True))  # the old settings: reused
    assert not made
    kept.unlink()
    kept.parent.rmdir()
    kept.parent.parent.rmdir()
    kept.parent.parent.parent.rmdir()
    assert prepare_data(cfg, "class", Log(True)) == tmp_path / "sci" / "data" / "cache-class" and made == ["pan"]
    assert science.camera_of(cfg, "class") == "pan"
