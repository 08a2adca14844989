"""Named short-run settings (``--preset``): a few-minute CPU run that still means something.

Without ``--preset`` the paper recipes are the defaults (``vssl.methods.*.Config`` and
``RECIPE``). A preset is one more layer of the resolution order of
:mod:`vssl.train.config`: defaults < the method's recipe < **preset** < ``--config``
file < flags. It sets, for pretraining, the backbone, clip length and stride, load
size, steps, batch, learning rate and the method's short-run values (momentum, queue,
crop: the ``PRESETS`` class attribute in ``vssl/methods/<name>.py``); and for ``vssl eval``
the matching clip options (the preset's backbone when ``--random-init``), so that a random
network is evaluated exactly as a pretrained one.

Why the ``demo`` values differ from the papers (every paper value assumes hundreds
of epochs of a 30-M-parameter network on 9 500+ videos; a demo run is ~a few hundred
steps of a 40-k-parameter network on ~100 videos):

* backbone ``tiny`` (3 conv layers, 64 features), 8-frame clips at load size 64 x 86
  cropped to 56, so one CPU step takes tens of milliseconds;
* learning rate 10x the papers' (0.003 -> 0.03, CMD's 5e-4 x batch -> 0.05 flat):
  at the paper's rate a few hundred steps barely move the weights;
* key-encoder momentum 0.99 instead of 0.999: after n steps the key encoder has
  followed the query encoder by 1 - m^n of its movement; 0.999 leaves it at
  1 - 0.999^400 = 33 % after 400 steps (it lags far behind, and the queue holds keys
  of a near-random network), 0.99 at 98 %;
* queue 64 instead of 2 048: the queue must be smaller than the training set, or it
  holds older clips of the query's own video as negatives (false negatives);
* no linear lr scaling for CMD (its recipe scales 5e-4 by batch / 256, which turns any
  ``--lr`` into 1/16 of itself at batch 16), and temporal stride 1 for every method
  (CMD's recipe has 4: on 48-frame videos 8 frames at stride 4 (29 frames), the gap and
  the 8-frame future window leave almost no room for negative windows), a 14 x 14
  motion-vector field instead of one per crop pixel (16x cheaper motion encoder);
* the supervised control (``vssl bench science``) at lr 0.05 with weight decay 5e-4;
* SimSiam, BYOL, Barlow Twins, VICReg and DirectCLR: projector / predictor widths scaled
  to the tiny backbone's 64 features (BYOL 256 / 64, Barlow Twins and VICReg 256-256-256,
  SimSiam 256 with a 64 bottleneck, DirectCLR's sub-vector 16 of 64), no linear lr
  scaling, BYOL's EMA from 0.99 (as the key momentum above), LARS rates near the papers'
  effective ones (not tuned);
* VideoMAE and MGM: backbone ``vit_tiny`` (a ViT is what it masks), AdamW at a flat 1e-3 (not tuned).
* pretext tasks (VCOP, Pace, 3DRotNet, cubic puzzles): gaps scaled with the 8-frame clips (VCOP 4 for 8 of 16,
  a 32-frame tuple; puzzle pieces 4 px smaller than their 28-px cells), the papers' lr x 10 (VCOP 0.01, still
  constant; Pace 0.01, keeping its recipe's step schedule: the milestones are fractions of the run, so the lr
  drops x0.1 at steps 100 and 200 of 300, after the demo's 20 warm-up steps); 3DRotNet and the puzzles at the
  demo's 0.03 (the puzzles with their default rotation loss: one more backbone call per clip, on a 56-px cell).
* the seeds' video methods (ASCNet, CORP, TEC, LSFD, MCN): heads scaled to 64 features, memory banks
  smaller than the training set, lr 0.05 (not tuned).

Measured with this preset (``vssl bench science``, 96 train videos of a dev dataset,
``--data-seed 1``, not the reported one): the supervised control on RGB frames reaches
56 % train accuracy but stays at chance on test videos whose background does not
follow the class (8 % R@1; 14 % after 600 steps; 12 % at stride 2), while the same
network on frame differences reaches 70 %: at this budget a tiny RGB network does
not find the motion even with labels. Read the demo's self-supervised numbers with
that ceiling in mind.
"""

from __future__ import annotations

from typing import Any

from vssl.errors import InputError

_DEMO_COMMON: dict[str, Any] = {
    "backbone": "tiny",
    "data.clip_len": 8,
    "data.stride": 1,
    "data.load_size": [64, 86],
    "optim.steps": 300,
    "optim.batch_size": 16,
    "optim.lr": 0.03,
    "optim.warmup_steps": 20,
    "run.save_every": 100,
    "run.log_every": 25,
    # 300 steps of 16 over ~100 short videos visit each frame dozens of times: decode it once (the
    # demo cache at 64 x 86 is ~75 MB; the samples are the same without it)
    "run.frame_cache_mb": 512,
    # ... and then the loading is a few ms per step in the training process: DataLoader workers only cost
    # their start-up and a store of their own each, on the same 2 cores (whole command, idle 2-core VM:
    # be 68 s with 4 workers, 60 s with none). CMD keeps one (its PRESETS: its samples carry motion
    # vectors and a keyframe). A split the store cannot hold gets one line saying so
    "data.workers": 0,
}
PRESETS: dict[str, dict[str, Any]] = {
    "demo": {
        "pretrain": _DEMO_COMMON,
        "eval": {"backbone": "tiny", "clip_len": 8, "stride": 1, "clips": 4, "resize": 64, "size": 56},
    },
}
"""Preset name -> ``pretrain`` (dotted keys for every method) and ``eval`` (options of ``vssl eval``).

A method's own values for a preset live next to the method, in the ``PRESETS`` class attribute of
``vssl/methods/<name>.py`` (e.g. ``{"demo": {"crop": 56, "_optim.lr": 0.05}}``): keys of its Config, or
``_section.key`` (``_backbone``) for data/optim/run overrides of that method; their comments say why. A
method without an entry gets the common settings only. See :func:`method_overrides`."""


def get_preset(name: str) -> dict[str, Any]:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def method_overrides(name: str, method: str) -> dict[str, Any]:
    """The ``PRESETS[name]`` entry of ``method``'s class (``{}`` when it has none, or for an unknown method).

    Read from the class only when asked, so importing this module (``vssl --help``) imports no method."""
    from vssl.methods import METHODS

    if method not in METHODS:
        return {}
    return dict(getattr(METHODS[method], "PRESETS", {}).get(name, {}))


def pretrain_overrides(name: str, method: str) -> dict[str, Any]:
    """The dotted overrides (``optim.lr``, ``moco.queue_size``, ...) of preset ``name`` for ``method``."""
    p = get_preset(name)
    out = dict(p["pretrain"])
    for k, v in method_overrides(name, method).items():
        if k.startswith("_"):
            out[k[1:]] = v
        else:
            out[f"{method}.{k}"] = v
    return out


def eval_options(name: str) -> dict[str, Any]:
    """``vssl eval`` options of preset ``name`` (backbone, clip_len, stride, clips, resize, size)."""
    return dict(get_preset(name)["eval"])
