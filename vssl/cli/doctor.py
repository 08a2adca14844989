"""`vssl doctor`: the versions and capabilities of this installation, for bug reports."""

from __future__ import annotations

from typing import Annotated

import typer

from vssl.cli.common import EXIT_SOME_FAILED, console, err_console


def doctor(
    json_: Annotated[bool, typer.Option("--json", help="Print JSON instead of the text report.")] = False,
):
    """Print the versions of vssl, Python, torch, torchvision, CUDA, nvJPEG, PyAV and FFmpeg, mvextractor,
    numba, h5py/hdf5plugin, OpenCV and the optional packages, and the cores: paste it into a bug report.

    Never fails on a missing part: it says so on its line. Exit 1 when a part vssl needs is missing or broken.
    """
    import json

    from vssl.doctor import as_dict, collect

    findings = collect()
    if json_:
        typer.echo(json.dumps(as_dict(findings), indent=2))
    else:
        width = max(len(f.name) for f in findings)
        for f in findings:
            mark = "  " if f.ok or not f.required else "!!"
            console.print(f"{mark} {f.name:<{width}}  {f.value}", highlight=False, soft_wrap=True)
        env = as_dict(findings)["environment"]
        if env:
            console.print("   environment: " + ", ".join(f"{k}={v}" for k, v in env.items()), highlight=False,
                          soft_wrap=True)
    problems = [f.name for f in findings if f.problem]
    if problems:
        err_console.print(f"[bold red]problem:[/bold red] {', '.join(problems)} missing or broken "
                          "(reinstall: pip install -e . or make install)", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SOME_FAILED)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
