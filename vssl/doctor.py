"""What this installation is made of: the versions and capabilities asked for in every bug report.

:func:`collect` probes each part on its own (an import, a version, a tiny decode on the GPU) and
never raises: a missing or broken part becomes a :class:`Finding` saying so in one line. ``vssl
doctor`` prints them; a part vssl cannot run without (``required``) that is missing makes it exit 1.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    """One line of the report.

    Attributes:
        name: what was probed (``torch``, ``FFmpeg``, ``nvJPEG``, ...).
        value: its version or what was found, one line.
        ok: False when the part is missing or broken.
        required: vssl cannot work without it (a dependency of ``pip install vssl``);
            a missing optional part (wandb, onnxruntime, a GPU) is reported, not a problem.
    """

    name: str
    value: str
    ok: bool = True
    required: bool = True

    @property
    def problem(self) -> bool:
        return self.required and not self.ok


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def _probe(name: str, fn: Callable[[], str], *, required: bool = True) -> Finding:
    """Run one probe; an exception (ImportError included) becomes a finding, never a crash."""
    try:
        return Finding(name, fn(), True, required)
    except ImportError as e:
        mod = getattr(e, "name", None) or name
        return Finding(name, f"not installed ({mod} cannot be imported)", False, required)
    except Exception as e:  # a broken installation can raise anything at import time
        return Finding(name, f"broken ({_first_line(e)})", False, required)


def _dist_version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


# --------------------------------------------------------------------------- probes


def _vssl() -> str:
    import vssl

    where = os.path.dirname(os.path.abspath(vssl.__file__))
    return f"{vssl.__version__} ({where})"


def _python() -> str:
    return f"{platform.python_version()} ({sys.executable})"


def _platform() -> str:
    return platform.platform()


def _cores() -> str:
    total = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = total
    text = f"{usable} usable of {total}"
    try:
        import torch

        text += f", torch threads {torch.get_num_threads()}"
    except Exception:
        pass
    omp = os.environ.get("OMP_NUM_THREADS")
    return text + (f", OMP_NUM_THREADS={omp}" if omp else "")


def _memory() -> str:
    with open("/proc/meminfo", encoding="ascii") as f:
        info = dict(line.split(":", 1) for line in f if ":" in line)
    gib = lambda key: int(info[key].split()[0]) / 2**20  # noqa: E731  kB -> GiB
    return f"{gib('MemTotal'):.1f} GiB total, {gib('MemAvailable'):.1f} GiB available"


def _torch() -> str:
    import torch

    cuda = torch.version.cuda or "none (CPU build)"
    text = f"{torch.__version__} (built with CUDA {cuda}"
    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:
        cudnn = None
    return text + (f", cuDNN {cudnn})" if cudnn else ")")


def _torchvision() -> str:
    import torchvision

    return torchvision.__version__


def _cuda() -> str:
    import torch

    if not torch.cuda.is_available():
        return "not available (CPU only; --device cpu)"
    names = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        names.append(f"cuda:{i} {p.name} ({p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor})")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "; ".join(names) + (f"; CUDA_VISIBLE_DEVICES={visible}" if visible is not None else "")


def _nvjpeg() -> str:
    """``--decode gpu``: torchvision.io.decode_jpeg on the GPU, tried on a tiny JPEG."""
    import torch
    from torchvision.io import decode_jpeg, encode_jpeg

    if not torch.cuda.is_available():
        return "n/a (no CUDA device; --decode cpu is used)"
    img = torch.zeros(3, 16, 16, dtype=torch.uint8)
    img[0, :, :8] = 255
    data = encode_jpeg(img, quality=95)
    out = decode_jpeg(data, device="cuda")
    if out.device.type != "cuda" or tuple(out.shape) != (3, 16, 16):
        raise RuntimeError(f"decode_jpeg gave {tuple(out.shape)} on {out.device}")
    return "works (torchvision.io.decode_jpeg on cuda: --decode gpu available)"


def _pyav() -> str:
    import av

    return av.__version__


def _ffmpeg() -> str:
    import av

    libs = getattr(av, "library_versions", {}) or {}
    parts = [f"{k} {'.'.join(map(str, v))}" for k, v in sorted(libs.items()) if k in ("libavcodec", "libavformat",
                                                                                         "libavutil", "libswscale")]
    version = getattr(av, "ffmpeg_version_info", None)
    return (f"{version} (PyAV's): " if version else "") + (", ".join(parts) or "library versions unknown")


def _h264() -> str:
    import av.codec

    found = []
    for name, mode, use in (("h264", "r", "decoder"), ("libx264", "w", "encoder, for vssl synth")):
        try:
            av.codec.Codec(name, mode)
            found.append(f"{name} {use}: yes")
        except Exception:
            found.append(f"{name} {use}: MISSING")
    text = ", ".join(found)
    if "MISSING" in text:
        raise RuntimeError(text)
    return text


def _mvextractor() -> str:
    import mvextractor  # noqa: F401

    return _dist_version("motion-vector-extractor")


def _numba() -> str:
    import numba

    text = numba.__version__
    cache = os.environ.get("NUMBA_CACHE_DIR")
    notes = []
    if os.environ.get("VSSL_NO_JIT"):
        notes.append("VSSL_NO_JIT set: the numpy rasteriser is used")
    notes.append(f"kernel cache {cache or 'vssl/io/__pycache__'}")
    return f"{text} ({'; '.join(notes)})"


def _h5py() -> str:
    import h5py

    return f"{h5py.__version__} (HDF5 {h5py.version.hdf5_version})"


def _hdf5plugin() -> str:
    import h5py
    import hdf5plugin

    if not h5py.h5z.filter_avail(hdf5plugin.LZ4_ID):
        raise RuntimeError(f"hdf5plugin {hdf5plugin.version} is installed but its LZ4 filter is not registered")
    return f"{hdf5plugin.version} (LZ4 filter registered)"


def _module_version(module: str, dist: str | None = None) -> Callable[[], str]:
    def probe() -> str:
        import importlib

        mod = importlib.import_module(module)
        v = getattr(mod, "__version__", None)
        return str(v) if v else _dist_version(dist or module)

    return probe


PROBES: tuple[tuple[str, Callable[[], str], bool], ...] = (
    ("vssl", _vssl, True),
    ("python", _python, True),
    ("platform", _platform, False),
    ("cores", _cores, False),
    ("memory", _memory, False),
    ("torch", _torch, True),
    ("torchvision", _torchvision, True),
    ("CUDA", _cuda, False),
    ("nvJPEG", _nvjpeg, False),
    ("PyAV", _pyav, True),
    ("FFmpeg", _ffmpeg, True),
    ("H.264", _h264, True),
    ("mvextractor", _mvextractor, True),
    ("numba", _numba, False),  # without it the numpy rasteriser is used (slower extract)
    ("numpy", _module_version("numpy"), True),
    ("h5py", _h5py, True),
    ("hdf5plugin", _hdf5plugin, True),
    ("opencv", _module_version("cv2", "opencv-python-headless"), True),
    ("tensorboard", _module_version("tensorboard"), False),
    ("wandb", _module_version("wandb"), False),
    ("safetensors", _module_version("safetensors"), False),
    ("onnx", _module_version("onnx"), False),
    ("onnxruntime", _module_version("onnxruntime"), False),
)
"""(name, probe, required): the order of the report."""


def collect() -> list[Finding]:
    """Every probe of :data:`PROBES`, in order; never raises."""
    return [_probe(name, fn, required=req) for name, fn, req in PROBES]


def environment() -> dict[str, str]:
    """The environment variables that change what vssl does."""
    keys = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "NUMBA_CACHE_DIR", "WANDB_MODE")
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("VSSL_") or k in keys}


def as_dict(findings: list[Finding]) -> dict:
    """JSON-ready: the findings and the environment variables."""
    return {"findings": [asdict(f) for f in findings], "environment": environment()}
