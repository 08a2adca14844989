"""The tiny backbone (tests, the demo) is built without importing torchvision (seconds of CPU per process)."""

from __future__ import annotations

import subprocess
import sys


def test_tiny_backbone_does_not_import_torchvision():
    code = ("import sys; from vssl.models import build_backbone; build_backbone('tiny'); build_backbone('vit_tiny'); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
