"""vssl: self-supervised video representation learning from the compressed stream."""

__version__ = "0.1.0"
