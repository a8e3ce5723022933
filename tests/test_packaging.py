"""The wheel users install: every package and data folder of the source tree, its metadata, and commands that work
from another folder with the checkout out of reach."""
import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"optsuite": "optsuite", "problems": "optsuite/problems", "runners": "optsuite/runners",
           "benchmarks": "optsuite/benchmarks"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from a copy of the checkout's sources (no build folder left from an earlier build),
    and what the build printed."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", *SOURCES):
        if not (ROOT / name).exists():
            continue
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is
                                            shutil.copytree else {}))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w",
                           str(out), str(source)], capture_output=True, text=True, check=True)
    return next(out.glob("optsuite-*.whl")), done.stdout + done.stderr


def source_files() -> set[str]:
    """Each file the package is made of (modules, packaged matrices), as its path inside the wheel."""
    found = set()
    for folder, inside in SOURCES.items():
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".toml", ".typed") and "__pycache__" not in path.parts:
                found.add(f"{inside}/{path.relative_to(ROOT / folder).as_posix()}")
    return found


def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    assert source_files() - names == set()
    assert {"optsuite/report/builder.py", "optsuite/engine/dense.py", "optsuite/__main__.py", "optsuite/py.typed",
            "optsuite/runners/matrices/default.toml"} <= names


def test_the_build_prints_no_packaging_warning(wheel):
    assert "absent from the `packages` configuration" not in wheel[1]
    assert "BuildBackendWarning" not in wheel[1]


def test_the_metadata_names_licence_authors_and_classifiers(wheel):
    archive = zipfile.ZipFile(wheel[0])
    meta = email.message_from_string(archive.read(next(n for n in archive.namelist()
                                                       if n.endswith(".dist-info/METADATA"))).decode())
    assert meta["License-Expression"] and meta["Author"]
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    minimum = meta["Requires-Python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers
    if tuple(map(int, minimum.split("."))) < (3, 11):  # runners/spec.py reads TOML with tomllib from 3.11 on
        assert any(r.startswith("tomli") and "python_version < \"3.11\"" in r.replace("'", '"')
                   for r in meta.get_all("Requires-Dist"))


def test_the_installed_wheel_runs_report_and_export_from_another_folder(wheel, tmp_path):
    """The wheel unpacked alone on the path (installed dependencies beside it, the checkout's editable finder
    removed), run from a folder without the checkout: run, report --out, export."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target", str(target),
                    str(wheel[0])], capture_output=True, check=True)
    (target / "sitecustomize.py").write_text(  # an editable install of the checkout must not fill the wheel's gaps
        "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}

    def optsuite(*args):
        done = subprocess.run([sys.executable, "-m", "optsuite", *args], capture_output=True, text=True, cwd=work,
                              env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    located = subprocess.run([sys.executable, "-c", "import optsuite; print(optsuite.__file__)"], capture_output=True,
                             text=True, cwd=work, env=env, check=True).stdout
    assert located.startswith(str(target))
    optsuite("run", "-p", "sphere(dim=3)", "-o", "montecarlo", "-o", "gd", "-s", "2", "-b", "evaluations=60",
             "--out", "store", "-q")
    optsuite("report", "store", "--out", "report")
    optsuite("export", "store", "--format", "csv", "--out", "csv")
    assert (work / "report" / "report.html").is_file() and (work / "csv" / "traces.csv").is_file()
