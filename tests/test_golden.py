"""Golden outputs: the re-layout (and any refactor) must keep the same bytes and the same losses.

A tiny synthetic dataset is extracted and precomputed and every method trains for a few steps;
the per-video checksums of the cache and precomputes and the logged losses must equal the
recorded ones in ``tests/golden.json``. A change that alters them on purpose (a new synth
version, a fixed bug) regenerates the file with ``VSSL_UPDATE_GOLDEN=1 pytest tests/test_golden.py``
and says so in its commit message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden.json")
METHODS = {  # tiny settings of each method (the golden run's, fixed here on purpose)
    "moco": {"crop": 24, "queue_size": 16},
    "simclr": {"crop": 24},
    "dsm": {"crop": 24, "queue_size": 16},
    "be": {"crop": 24, "queue_size": 16},
    "fame": {"crop": 24, "queue_size": 16},
    "supervised": {"crop": 24},
    "cmd": {"crop": 24, "mv_encoder": "tiny", "mv_len": 4, "mv_size": 8, "predictor_dim": 32, "mv_negatives": 2},
    "simsiam": {"crop": 24, "proj_dim": 32, "pred_dim": 8},
    "byol": {"crop": 24, "proj_dim": 16, "hidden_dim": 32, "pred_hidden_dim": 32},
    "barlow": {"crop": 24, "proj_dim": 32, "hidden_dim": 32},
    "vicreg": {"crop": 24, "proj_dim": 32, "hidden_dim": 32},
    "directclr": {"crop": 24, "dim": 16},
}
RUN = {"backbone": "tiny", "data.clip_len": 4, "data.stride": 2, "data.load_size": [32, 40], "data.workers": 0,
       "optim.batch_size": 4, "optim.steps": 3, "run.log_every": 1, "run.save_every": 100,
       "run.tensorboard": False, "run.device": "cpu", "seed": 3}


def _records(manifest: Path) -> dict[str, str]:
    doc = json.loads(manifest.read_text())
    return {r["id"]: r.get("checksum") for r in doc["videos"] if r.get("status") == "ok"}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict:
    from vssl.preprocess.be import BeOptions
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.preprocess.fame import FameOptions
    from vssl.preprocess.precompute import RunOptions, precompute
    from vssl.synth import make_synth
    from vssl.train.config import resolve_config
    from vssl.train.loop import pretrain

    root = tmp_path_factory.mktemp("golden")
    make_synth(root / "src", classes=3, videos_per_class=3, size=(64, 48), frames=24, seed=5, progress=False)
    cache = root / "cache"
    extract(root / "src", cache, ExtractOptions(workers=1, min_frames=8, size=32), quiet=True)
    precompute(cache, FameOptions(window=4, stride=2), RunOptions(workers=1), quiet=True)
    precompute(cache, BeOptions(window=4, stride=2, k=2), RunOptions(workers=1), quiet=True)
    out: dict = {"extract": _records(cache / "manifest.json"), "fame": _records(cache / "fame" / "manifest.json"),
                 "be": _records(cache / "be" / "manifest.json"), "losses": {}}
    for method, params in METHODS.items():
        over = {"cache": str(cache), **RUN, **{f"{method}.{k}": v for k, v in params.items()}}
        run = root / "runs" / method
        pretrain(resolve_config(method, overrides=over), run, quiet=True)
        recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        out["losses"][method] = [r["loss"] for r in recs if "loss" in r]
    return out


def test_same_bytes_and_losses_as_recorded(outputs):
    if os.environ.get("VSSL_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(outputs, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    for kind in ("extract", "fame", "be"):
        assert outputs[kind] == want[kind], f"{kind} checksums changed"
    assert set(outputs["losses"]) == set(want["losses"])
    for method, losses in want["losses"].items():
        assert len(outputs["losses"][method]) == len(losses) == RUN["optim.steps"], method
        assert outputs["losses"][method] == pytest.approx(losses, rel=1e-4, abs=1e-5), f"{method} losses changed"
