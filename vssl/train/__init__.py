"""Pretraining engine: config resolution, the loop, checkpoints, logs, DDP helpers.

Entry point: :func:`vssl.train.loop.pretrain` (``vssl pretrain``). Submodules are
imported on use so that importing :mod:`vssl.train` stays cheap.
"""
