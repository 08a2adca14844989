"""Data flows one way (video -> shards -> clips -> batch -> model -> checkpoint -> eval): a package
never imports one of a higher layer. Read from the source (ast), so lazy imports inside functions
count too; the one allowed exception is listed with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

import vssl

LAYERS = [
    {"errors", "utils", "signals", "dist"},  # no vssl imports but each other
    {"io", "synth"},  # formats, readers, the synthetic dataset
    {"ops", "models", "losses"},  # pure batched operations, networks, loss functions
    {"data", "preprocess"},  # clips from the cache; extract / precompute stages
    {"methods"},
    {"train"},
    {"eval"},
    {"export", "bench", "doctor"},
    {"cli", "__init__", "__main__"},
]
LEVEL = {p: i for i, layer in enumerate(LAYERS) for p in layer}
# the kNN monitor evaluates during pretraining with eval's own protocol (its imports are inside functions)
ALLOWED = {("train/monitor.py", "eval")}


def _imports(path: Path) -> set[str]:
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0 and n.module.startswith("vssl."):
            out.add(n.module.split(".")[1])
        elif isinstance(n, ast.Import):
            out |= {a.name.split(".")[1] for a in n.names if a.name.startswith("vssl.")}
    return out


def test_no_package_imports_a_higher_layer():
    root = Path(vssl.__file__).parent
    bad, unknown = [], set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        pkg = rel.split("/")[0].removesuffix(".py")
        if pkg not in LEVEL:
            unknown.add(pkg)
            continue
        for dep in _imports(path) - {pkg}:
            if dep not in LEVEL:
                unknown.add(dep)
            elif LEVEL[dep] > LEVEL[pkg] and (rel, dep) not in ALLOWED:
                bad.append(f"{rel} imports vssl.{dep}")
    assert not unknown, f"put these packages in a layer: {sorted(unknown)}"
    assert not bad, "\n".join(bad)


def test_lazy_imports_inside_functions_count(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("import vssl.io.cache\n\ndef f():\n    from vssl.cli.common import EXIT_OK\n    return EXIT_OK\n")
    assert _imports(p) == {"io", "cli"}
