"""vssl: self-supervised video representation learning from the compressed stream."""

__version__ = "0.1.0"


def load_backbone(path, backbone=None):
    """A trained backbone in eval mode: ``vssl.load_backbone("runs/dsm")`` (a run directory, one of its
    checkpoints, or a ``vssl export`` file, .pt or .safetensors). See :func:`vssl.export.load_backbone`."""
    from vssl.export import load_backbone as _load

    return _load(path, backbone)
