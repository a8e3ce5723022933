"""The house's layering: the contract imports nothing above it; problems and optimizers never import each other."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ("optsuite", "optsuite.problem", "optsuite.optimizer", "optsuite.budget", "optsuite.ledger",
            "optsuite.registry", "optsuite.crn", "optsuite.device", "optsuite.errors", "optsuite.run",
            "optsuite.capabilities", "optsuite.linalg", "optsuite.keys", "optsuite.targets", "optsuite.engine",
            "optsuite.testing")
ABOVE = ("optsuite.runners", "optsuite.report", "optsuite.benchmarks", "optsuite.cli")


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against ``package``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


def test_the_contract_loads_nothing_above_it_in_a_fresh_interpreter():
    code = (f"import sys\nfor m in {CONTRACT!r}: __import__(m)\n"
            f"print('\\n'.join(sorted(m for m in sys.modules if m.startswith({ABOVE!r}))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_core_modules_import_nothing_above_them():
    for path in (ROOT / "optsuite").glob("*.py"):
        if path.name != "cli.py":
            assert not {m for m in imported_modules(path, "optsuite") if m.startswith(ABOVE)}, path.name


def test_problems_and_optimizers_never_import_each_other():
    for path in (ROOT / "problems").glob("*.py"):
        assert not {m for m in imported_modules(path, "optsuite.problems") if m.startswith("optsuite.optimizers")}, path
    for path in (ROOT / "optsuite" / "optimizers").glob("*.py"):
        assert not {m for m in imported_modules(path, "optsuite.optimizers") if m.startswith("optsuite.problems")}, path
