"""The package architecture, checked statically with `ast` (nothing here imports the code it checks).

STYLE fixes the layers, top to bottom: `hydra_plugins` -> `pipelines` -> `workers` -> `models`.
Imports point down and never go round in a circle:

- no import circle between modules, nor between packages (a package may import itself: an `__init__`
  re-exporting its submodules is a self-loop, not a circle);
- no module imports a module of a higher layer;
- nothing below the CLI (`hydra_plugins`, `workers`, `models`) imports the CLI module `pipelines.main`.

Lazy imports inside functions count: they still run, only later. So do imports under `if TYPE_CHECKING:`:
they never run, but a module that names another's types for its signatures depends on it all the same,
and a circle of them is the first thing a reader trips over.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("hydra_plugins", "pipelines", "workers", "models")
CLI = "pipelines.main"

Edge = tuple[str, int, str, str]  # (file relative to ROOT, lineno, importing module, imported module)


def module_name(path: Path, root: Path = ROOT) -> str:
    """`models/ising/__init__.py` -> `models.ising`; `models/ising/exact.py` -> `models.ising.exact`."""
    parts = Path(path).resolve().relative_to(root.resolve()).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def repo_modules() -> dict[str, Path]:
    """Every module of the four layers, by dotted name."""
    files = (p for top in LAYERS for p in sorted((ROOT / top).rglob("*.py")) if "__pycache__" not in p.parts)
    return {module_name(p): p for p in files}


def resolve(name: str, known: Iterable[str]) -> str | None:
    """The longest prefix of `name` that is a known module, or None (third party, stdlib)."""
    parts = name.split(".")
    return next((p for i in range(len(parts), 0, -1) if (p := ".".join(parts[:i])) in known), None)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(
    path: Path, module: str, known: Iterable[str] | None = None, *, type_checking: bool = True
) -> list[tuple[str, int]]:
    """(imported repo module, lineno) for every import in `path`, lazy ones included, and those under
    `if TYPE_CHECKING:` unless `type_checking` is False."""
    known = set(repo_modules() if known is None else known)
    package = module.split(".") if Path(path).name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, int]] = []
    stack: list[ast.AST] = [ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))]
    while stack:
        node = stack.pop()
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the `else:` of a TYPE_CHECKING block does run
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found += [(t, node.lineno) for alias in node.names if (t := resolve(alias.name, known))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if node.level > len(package):
                    continue  # a relative import above the top level: Python refuses it anyway
                parts = package[: len(package) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else resolve(base, known)
                if target:
                    found.append((target, node.lineno))
    return sorted(set(found), key=lambda t: (t[1], t[0]))


@functools.cache
def repo_edges() -> tuple[Edge, ...]:
    mods = repo_modules()
    return tuple(
        (str(path.relative_to(ROOT)), lineno, src, dst)
        for src, path in mods.items()
        for dst, lineno in imports_of(path, src, mods)
    )


def graph_of(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).update({dst} - {src})  # self-loops are not circles
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Circles like [a, b, c, a]: each back edge of a depth-first search closes one (self-loops aside), and
    every strongly connected component of more than one node holds at least one back edge."""
    cycles: list[list[str]] = []
    path: list[str] = []
    done: set[str] = set()

    def visit(v: str) -> None:
        path.append(v)
        for w in sorted(graph.get(v, set()) - {v}):
            if w in path:
                cycles.append([*path[path.index(w) :], w])
            elif w not in done:
                visit(w)
        path.pop()
        done.add(v)

    for v in sorted(graph):
        if v not in done:
            visit(v)
    return cycles


def package_of(module: str) -> str:
    """A package is its own package; `models.ising.exact` -> `models.ising`; `workers.loop` -> `workers`."""
    path = repo_modules().get(module)
    return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0] or module


def upward_imports(edges: Iterable[Edge]) -> list[str]:
    """Every edge from a lower layer to a higher one, as `file:lineno: a imports b (x must not import y)`."""
    rank = {top: i for i, top in enumerate(LAYERS)}
    bad = []
    for file, lineno, src, dst in edges:
        s, d = src.partition(".")[0], dst.partition(".")[0]
        if s in rank and d in rank and rank[d] < rank[s]:
            bad.append(f"{file}:{lineno}: {src} imports {dst} ({s} must not import {d})")
    return bad


def _circles(edges: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"import circle: {' -> '.join(c)}" for c in find_cycles(graph_of(edges)))


def test_no_module_import_circles():
    message = _circles((src, dst) for _, _, src, dst in repo_edges())
    assert not message, message


def test_no_package_import_circles():
    message = _circles((package_of(src), package_of(dst)) for _, _, src, dst in repo_edges())
    assert not message, message


def test_imports_point_down():
    bad = upward_imports(repo_edges())
    assert not bad, "\n".join(bad)


def test_nothing_below_the_cli_imports_it():
    bad = [
        f"{file}:{lineno}: {src} imports {dst} (only pipelines may import the CLI)"
        for file, lineno, src, dst in repo_edges()
        if dst == CLI and src.partition(".")[0] in ("hydra_plugins", "workers", "models")
    ]
    assert not bad, "\n".join(bad)


def test_find_cycles_reports_a_planted_circle():
    cycles = find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycles == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"a", "b"}, "b": set()}) == []  # a self-loop is no circle


def test_imports_of_sees_lazy_and_type_checking_imports(tmp_path):
    assert module_name(ROOT / "models/ising/__init__.py") == "models.ising"
    assert module_name(ROOT / "models/ising/exact.py") == "models.ising.exact"
    source = tmp_path / "mod.py"
    source.write_text(
        "import os\n"
        "import typing\n"
        "from typing import TYPE_CHECKING\n"
        "from models import rbm, RBM\n"
        "import models.ising.nothing\n"
        "from . import sibling\n"
        "from ..pkg2 import thing\n"
        "if TYPE_CHECKING:\n"
        "    from workers.trial import TrialSpec\n"
        "if typing.TYPE_CHECKING:\n"
        "    import pipelines.main\n"
        "else:\n"
        "    import workers.loop\n"
        "def f():\n"
        "    from models.ising import T_CRITICAL\n",
        encoding="utf-8",
    )
    known = {"models", "models.rbm", "models.ising", "models.fake.sibling", "models.pkg2"}
    known |= {"workers.trial", "workers.loop", "pipelines.main"}

    def found(**kwargs) -> str:
        return " ".join(f"{t}:{n}" for t, n in imports_of(source, "models.fake.mod", known, **kwargs))

    # `RBM` is a name, so the edge goes to `models`; `models.ising.nothing` is no module, so to `models.ising`
    common = "models:4 models.rbm:4 models.ising:5 models.fake.sibling:6 models.pkg2:7"
    assert found() == f"{common} workers.trial:9 pipelines.main:11 workers.loop:13 models.ising:15"
    assert found(type_checking=False) == f"{common} workers.loop:13 models.ising:15"


def test_layering_catches_an_upward_import():
    edges = [
        ("workers/trial.py", 3, "workers.trial", "pipelines.main"),
        ("pipelines/spec.py", 9, "pipelines.spec", "workers.trial"),
        ("models/rbm.py", 1, "models.rbm", "models.ising"),
    ]
    assert upward_imports(edges) == [
        "workers/trial.py:3: workers.trial imports pipelines.main (workers must not import pipelines)"
    ]


def test_the_sweep_driver_reaches_ray_init_without_the_heavy_imports():
    """A sweep's driver imports MLflow in the store's thread while Ray starts, and torch only in the workers;
    so everything it imports before `ray.init` must leave MLflow, torch, matplotlib and scipy out."""
    import subprocess
    import sys

    code = (
        "import sys, hydra_plugins.phasesweep.ray_launcher, pipelines.main, pipelines.sweep, pipelines.expand, "
        "pipelines.preflight, pipelines.runtree, workers.tracking, workers.task; "
        "print(' '.join(sorted(m for m in ('mlflow', 'torch', 'matplotlib', 'scipy', 'pandas') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
