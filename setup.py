"""Package discovery. problems/, runners/ and benchmarks/ sit at the top of the source tree (the design card's
layout) and install as optsuite.problems, optsuite.runners and optsuite.benchmarks; every package and data
folder under each root is found by setuptools, none is listed by hand. The metadata is in pyproject.toml."""
from setuptools import find_namespace_packages, setup

ROOTS = {"optsuite": "optsuite", "optsuite.problems": "problems", "optsuite.runners": "runners",
         "optsuite.benchmarks": "benchmarks"}
SKIPPED = ["__pycache__", "*.__pycache__"]


def packages() -> list[str]:
    """Every folder under each root, as a dotted name under the root's package (data folders included, as
    namespace packages, so their files install with them)."""
    return [f"{name}.{sub}" if sub else name
            for name, folder in ROOTS.items() for sub in ["", *find_namespace_packages(folder, exclude=SKIPPED)]]


setup(packages=packages(), package_dir=ROOTS)
