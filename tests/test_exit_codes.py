"""The exit codes are one table: README's, `vssl --help`'s and the code's agree."""

from __future__ import annotations

import re
from pathlib import Path

from vssl import errors, signals
from vssl.cli import common
from vssl.cli.main import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_codes() -> set[int]:
    text = README.read_text("utf-8")
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}


def test_every_code_the_code_uses_is_documented_once():
    used = {0, common.EXIT_SOME_FAILED, common.EXIT_USAGE, common.EXIT_CACHE, common.EXIT_TRAIN,
            common.EXIT_INTERRUPTED, common.EXIT_PREEMPTED, signals.EXIT_SIGINT, signals.EXIT_PREEMPTED}
    used |= {c.exit_code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.VsslError)}
    used.discard(errors.VideoError.exit_code)  # recorded per video in the manifest, never a process exit code
    assert used == _readme_codes()
    help_text = app.info.help
    for c in used - {0}:
        assert re.search(rf"\b{c} ", help_text), c
    for c in used:
        assert re.search(rf"^\s+{c} ", common.__doc__, flags=re.M), c
