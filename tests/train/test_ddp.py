"""DDP with 2 gloo processes on the CPU agrees with one process on the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from helpers.training import tiny_overrides

from vssl.train.checkpoint import checkpoint_path, load_checkpoint
from vssl.train.config import resolve_config
from vssl.train.logging import read_metrics
from vssl.train.loop import pretrain

WORKER = """
import json, sys
from vssl.train.config import resolve_config
from vssl.train.loop import pretrain
over, out = json.loads(sys.argv[1]), sys.argv[2]
pretrain(resolve_config("moco", overrides=over), out, quiet=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_accumulation(tiny_cache, tmp_path):
    """MoCo, global batch 4: 2 ranks x 2 clips == 1 process x 2 accumulation steps x 2 clips.

    Batch norm uses per-micro-batch statistics in both, the keys of both micro-batches
    enter the queue in the same order, the augmentation seeds depend on the micro-batch
    only: losses and weights agree up to float summation order.
    """
    # Shuffle BN shuffles keys across ranks (on one process: over sub-batches), which by design differs
    # from one process with accumulation; the equivalence is of the rest of the machinery.
    common = {"optim.steps": 3, "optim.batch_size": 4, "run.save_every": 3, "moco.shuffle_bn": False}
    ref = pretrain(resolve_config("moco", overrides=tiny_overrides("moco", tiny_cache, **common, **{"optim.accum": 2})),
                   tmp_path / "one", quiet=True)
    assert ref["steps"] == 3
    port = _free_port()
    over = json.dumps(tiny_overrides("moco", tiny_cache, **common))
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, over, str(tmp_path / "ddp")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out[-3000:]
    one = [r["loss"] for r in read_metrics(tmp_path / "one")]
    ddp = [r["loss"] for r in read_metrics(tmp_path / "ddp")]
    assert len(ddp) == 3 and ddp == pytest.approx(one, rel=1e-4, abs=1e-5)
    meta = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert meta["world_size"] == 2
    wa = load_checkpoint(checkpoint_path(tmp_path / "one"))["model"]
    wb = load_checkpoint(checkpoint_path(tmp_path / "ddp"))["model"]
    for k, v in wa.items():
        if "running_" in k or "num_batches" in k:
            continue  # BN running statistics: DDP broadcasts rank 0's
        torch.testing.assert_close(v, wb[k], rtol=1e-4, atol=1e-5, msg=k)
