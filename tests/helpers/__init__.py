"""Helpers the tests share (a package on the test path: ``pythonpath = ["tests"]`` in pyproject.toml).

* :mod:`helpers.videos`: small H.264 and other videos written for the tests;
* :mod:`helpers.training`: a tiny labelled cache and tiny pretraining configs;
* :mod:`helpers.methods`: building every method tiny, synthetic batches, short training loops.
"""
