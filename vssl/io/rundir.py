"""The files of a ``vssl pretrain`` run directory, read in one place.

``RUN_DIR/config.yaml`` (the fully resolved config; ``config.yml`` / ``config.json`` are read too,
for configs written by hand or by other tools) and ``RUN_DIR/run.json`` (status, steps, the cache
checksum). A config that does not parse is one :class:`~vssl.errors.InputError` line naming the
file; run.json, which the run rewrites, reads as {} when missing or torn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vssl.errors import InputError

CONFIG_FILE = "config.yaml"
CONFIG_FILES = (CONFIG_FILE, "config.yml", "config.json")
RUN_FILE = "run.json"


def _reason(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def read_run_config(run_dir: str | Path, advice: str = "", names: tuple[str, ...] = CONFIG_FILES
                    ) -> dict[str, Any] | None:
    """The run's config as a dict (the first of ``names`` present), or None when the directory has
    none; {} when the file holds no mapping. A file that does not parse is one InputError line
    (``advice`` appended, e.g. "use another --out")."""
    import yaml

    for name in names:
        p = Path(run_dir) / name
        if not p.is_file():
            continue
        try:
            text = p.read_text("utf-8")
            cfg = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
        except Exception as e:  # yaml.YAMLError, ValueError, OSError, UnicodeDecodeError
            raise InputError(f"cannot read {p}: {_reason(e)}" + (f"; {advice}" if advice else "")) from None
        return cfg if isinstance(cfg, dict) else {}  # empty or not a mapping: no usable settings
    return None


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """``RUN_DIR/run.json`` as a dict; {} when it is missing or unreadable (it is rewritten by the run)."""
    try:
        d = json.loads((Path(run_dir) / RUN_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}
