from __future__ import annotations

import io

import pytest
import typer
from rich.console import Console

from vssl.cli import common
from vssl.errors import InputError


def test_error_lines_keep_square_brackets(monkeypatch):
    """A message with [...] (an extra's name, a list) is printed as written, not eaten as markup."""
    buf = io.StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=buf, width=200))

    @common.error_boundary
    def cmd():
        raise InputError("needs the export extra: pip install 'vssl[export]' (or one of [a, b])")

    with pytest.raises(typer.Exit) as e:
        cmd()
    assert e.value.exit_code == InputError.exit_code
    out = buf.getvalue()
    assert "pip install 'vssl[export]'" in out and "[a, b]" in out and out.count("\n") == 1
