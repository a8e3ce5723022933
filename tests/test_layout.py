"""The house's layering, for every sub-package: what each may import, and no import circles anywhere.

The contract (``optsuite/*.py`` and the engine) imports nothing above it; problems and optimizers never
import each other; ``report/`` reads stores and imports no problem, runner, optimizer or benchmark.
Every import counts, also one inside a function or under ``TYPE_CHECKING``.
"""
import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as
PACKAGES = {"optsuite": "optsuite", "problems": "optsuite.problems", "runners": "optsuite.runners",
            "benchmarks": "optsuite.benchmarks"}
CONTRACT = ("optsuite", "optsuite.problem", "optsuite.optimizer", "optsuite.budget", "optsuite.ledger",
            "optsuite.registry", "optsuite.crn", "optsuite.device", "optsuite.errors", "optsuite.run",
            "optsuite.capabilities", "optsuite.linalg", "optsuite.keys", "optsuite.targets", "optsuite.engine",
            "optsuite.testing", "optsuite.store")
ABOVE = ("optsuite.runners", "optsuite.report", "optsuite.benchmarks", "optsuite.cli", "optsuite.__main__")
# sub-package -> the packages it must never import
FORBIDDEN = {
    "optsuite.engine": ABOVE + ("optsuite.problems", "optsuite.optimizers"),
    "optsuite.optimizers": ABOVE + ("optsuite.problems",),
    "optsuite.problems": ABOVE + ("optsuite.optimizers",),
    "optsuite.report": ("optsuite.problems", "optsuite.runners", "optsuite.optimizers", "optsuite.benchmarks",
                        "optsuite.cli", "optsuite.engine"),
    "optsuite.runners": ("optsuite.report", "optsuite.benchmarks", "optsuite.cli"),
}


def modules() -> dict[str, Path]:
    """Every module of the installed packages by its dotted name (``optsuite.engine.dense``: its file)."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((package, *parts))] = path
    return out


def imported_modules(path: Path, name: str) -> set[str]:
    """Absolute names of every module ``path`` (module ``name``) imports, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name imported from a package counts as that package's
    module where one exists, else as the package)."""
    known = modules()
    edges = {}
    for name, path in known.items():
        targets = set()
        for imported in imported_modules(path, name):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def test_the_contract_loads_nothing_above_it_in_a_fresh_interpreter():
    code = (f"import sys\nfor m in {CONTRACT!r}: __import__(m)\n"
            f"print('\\n'.join(sorted(m for m in sys.modules if m.startswith({ABOVE!r}))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_core_modules_import_nothing_above_them():
    for name, targets in graph().items():
        if name.count(".") == 1 and name.startswith("optsuite.") and name not in ABOVE and name not in PACKAGES.values():
            assert not {t for t in targets if t.startswith(ABOVE)}, name


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_sub_package_imports_only_what_it_may(package):
    edges = graph()
    mine = [name for name in edges if name == package or name.startswith(package + ".")]
    assert mine, package
    for name in mine:
        bad = {t for t in edges[name] if t.startswith(FORBIDDEN[package])}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_there_is_no_import_circle():
    """Tarjan's strongly connected components of the import graph: each must be a single module."""
    edges = graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            # a package and its own modules (``__init__`` re-exporting them) are one unit, not a circle
            if len({c for c in component if not any(d.startswith(c + ".") for d in component)}) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, circles


def test_the_report_knows_the_noprop_defaults_it_reads():
    from optsuite.problems.noprop_problem import NoPropProblem
    from optsuite.report.noprop_figures import DEFAULTS

    defaults = {k: p.default for k, p in inspect.signature(NoPropProblem).parameters.items()}
    assert DEFAULTS == {k: defaults[k] for k in DEFAULTS}
