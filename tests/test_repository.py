"""The repository as a reader meets it: what the README promises, no folder of one machine in what is shared,
the torch pin, and the test command."""
import re
import subprocess
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_says_that_imports_run_code_also_under_dry_run():
    readme = (ROOT / "README.md").read_text()
    note = next(p for p in readme.split("\n- ") if p.startswith("`imports`"))
    assert "arbitrary code" in note and "--dry-run" in note


def test_reports_and_benchmarks_name_no_folder_of_one_machine():
    machine = re.compile(r"(?<![\w.~$])/(?:work|tmp|root|home|Users|mnt|private|var/folders)/")
    files = [ROOT / "README.md", *(p for p in (ROOT / "reports").rglob("*") if p.suffix in (".md", ".txt", ".html")),
             *(ROOT / "benchmarks").iterdir()]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in files if p.is_file()
             for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if machine.search(line)]
    assert not found, found


def test_the_torch_pin_says_what_it_fixes_and_setup_can_take_the_cpu_build():
    constraints = (ROOT / "constraints.txt").read_text()
    assert "https://download.pytorch.org/whl/cpu" in constraints and re.search(r"^torch==\S+$", constraints, re.M)
    index = "https://download.pytorch.org/whl/cpu"
    planned = subprocess.run(["make", "-n", "-B", "setup", f"TORCH_INDEX={index}"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    torch_first = next(i for i, line in enumerate(planned) if f"--index-url {index} torch" in line)
    assert "-c constraints.txt" in planned[torch_first]
    assert torch_first < next(i for i, line in enumerate(planned) if "-e '.[dev]'" in line)
    plain = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--index-url" not in plain


def test_make_test_runs_every_test_and_ci_runs_make_test():
    """The slow tests carry a marker, so that ``pytest -m "not slow"`` is a quick loop; nothing deselects them in
    ``make test``, which CI runs."""
    import tomllib

    pytest_config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in pytest_config["markers"]) and "--strict-markers" in pytest_config["addopts"]
    assert "-m" not in pytest_config["addopts"].split()
    recipe = subprocess.run(["make", "--no-print-directory", "-n", "test"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout  # no "Entering directory" lines where make runs this test
    assert re.search(r"-m pytest -q\s*$", recipe.strip()) and "not slow" not in recipe
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
