"""`vssl bench gpu` (the script a GPU machine runs) run end to end on the CPU with tiny settings,
and the lzf cache format it uses where hdf5plugin cannot be carried."""

from __future__ import annotations

import json

from vssl.bench.gpu import PRETRAIN_ROWS, bench_gpu, markdown


def test_bench_gpu_tiny_on_cpu_with_lzf_caches(tmp_path, monkeypatch):
    from vssl.io.cache import Cache
    from vssl.io.h5 import load_h5py

    monkeypatch.setenv("VSSL_H5_COMPRESSION", "lzf")
    r = bench_gpu(tmp_path / "g", device="cpu", tiny=True, run_tests=False, budget_s=900)
    doc = json.loads((tmp_path / "g" / "bench_gpu.json").read_text())
    assert doc["environment"]["device"] == "cpu" and doc["skipped"] == []
    assert [(p["method"], p["backbone"]) for p in doc["pretrain"]] == [("dsm", "tiny"), ("dsm", "tiny")]
    assert all(p["ratio"] > 0 and p["cache_steps_per_s"] > 0 for p in doc["pretrain"])
    assert doc["eval"]["ucf101_split1_features_s"] > 0
    assert doc["ddp_smoke"]["exit"] == 0 and doc["ddp_smoke"]["checkpoint"], doc["ddp_smoke"]
    assert "| dsm | tiny |" in (tmp_path / "g" / "bench_gpu.md").read_text()
    assert r["nvidia_smi"] is None or r["nvidia_smi"]["samples"] >= 0
    # the cache was written with lzf and reads back
    h5py = load_h5py()
    cache = tmp_path / "g" / "data" / "cache"
    with Cache(cache) as c:
        v = c.videos[0]
        assert c.read_mv(v.id, 0, 4)[0].shape[0] == 4
        shard = next((cache / "shards").glob("*.h5"))
    with h5py.File(shard, "r") as f:
        grp = next(iter(f["v"].values()))
        assert grp["mv"].compression == "lzf"


def test_pretrain_rows_cover_the_issue_matrix_and_markdown_of_a_cut_run():
    rows = {(r["method"], r["backbone"], r["compile"], r["decode"]) for r in PRETRAIN_ROWS}
    assert {("dsm", "r3d_18", False, "gpu"), ("dsm", "r3d_18", False, "cpu"), ("moco", "r2plus1d_18", False, "gpu"),
            ("dsm", "r3d_18", True, "gpu")} <= rows
    md = markdown({"environment": {"device": "cuda", "gpu": "H200", "torch": "2", "cuda": "13", "cores": 16},
                   "seconds": 1.0, "skipped": [{"eval": "r3d_18", "why": "budget"}]})
    assert "H200" in md and "skipped" in md and "budget" in md
