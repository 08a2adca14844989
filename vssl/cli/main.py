"""The `vssl` command: a thin Typer app; each command builds options and calls the library."""

from __future__ import annotations

import typer

from vssl import __version__
from vssl.cli import data as data_cmds

app = typer.Typer(
    name="vssl",
    help="Self-supervised video representation learning from the compressed stream.\n\n"
    "Pipeline: synth (or your videos) -> extract -> precompute fame|be -> pretrain -> eval. "
    "Exit codes: 0 ok, 1 some inputs failed, 2 bad input/option, 3 cache problem or directory in use, "
    "5 training stopped, 6 disk full, 75 stopped by SIGTERM/SIGUSR1 after saving (rerun to resume), 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"vssl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    """vssl: one pipeline from compressed video to evaluated representations."""


data_cmds.register(app)


def _register_optional():
    """Command groups that live in their own modules."""
    import importlib

    for mod in ("vssl.cli.precompute", "vssl.cli.train", "vssl.cli.evaluate", "vssl.cli.bench", "vssl.cli.show",
                "vssl.cli.doctor"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name == mod:
                continue
            raise
        m.register(app)


_register_optional()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
