"""``examples/configs/<method>.yaml``: generated from the resolved defaults (``make configs``).

Each file is the method's hand-written comment header (what the method is, where its
values come from, how to use the file) followed by the YAML of
``resolve_config(method)`` without ``cache``: every setting a run of the paper recipe
uses, so the examples cannot drift from the code. ``python -m vssl.train.examples DIR``
rewrites the bodies and keeps the headers; ``--check`` only lists the stale files (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_DIR = Path("examples/configs")


def body(method: str) -> str:
    """The YAML of the method's resolved defaults (paper recipe; no cache, no preset)."""
    import yaml

    from vssl.train.config import resolve_config, to_dict

    d = to_dict(resolve_config(method))
    d.pop("cache", None)
    return yaml.safe_dump(d, sort_keys=False)


def header(text: str) -> str:
    """The leading comment lines of ``text`` (the hand-written part of an example)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def default_header(method: str) -> str:
    return (f"# {method}: the paper recipe's settings (docs/fidelity.md).\n"
            f"# Use: vssl pretrain --config examples/configs/{method}.yaml --cache CACHE --out runs/{method}\n")


def render(method: str, old: str | None) -> str:
    """The example file of ``method``: the header of ``old`` (or a default one) + :func:`body`."""
    head = header(old) if old else ""
    return (head or default_header(method)) + body(method)


def stale(directory: Path = DEFAULT_DIR, *, write: bool = False) -> list[str]:
    """Methods whose example in ``directory`` is missing or differs from :func:`render`
    (rewritten when ``write``)."""
    from vssl.methods import METHODS
    from vssl.utils.fs import atomic_write_bytes

    out = []
    for method in METHODS:
        p = Path(directory) / f"{method}.yaml"
        old = p.read_text() if p.exists() else None
        new = render(method, old)
        if new != old:
            out.append(method)
            if write:
                atomic_write_bytes(p, new.encode())
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    rest = [a for a in args if a != "--check"]
    directory = Path(rest[0]) if rest else DEFAULT_DIR
    names = stale(directory, write=not check)
    verb = "stale" if check else "rewrote"
    print(f"{verb}: {', '.join(names)}" if names else f"{directory}: every example is current")
    return 1 if check and names else 0


if __name__ == "__main__":
    raise SystemExit(main())
