"""The README's one-file optimizer works as printed: it registers, runs, and passes the public conformance check."""
import re
from pathlib import Path

from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run
from optsuite.testing import check_optimizer


def test_readme_optimizer_example_registers_and_optimizes():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(# optsuite/optimizers/hillclimb.py\n.*?)```", readme, re.S).group(1)
    try:
        exec(compile(code, "README.md", "exec"), {})
        optimizer = OPTIMIZERS.create("hillclimb", sigma=0.3)
        problem = PROBLEMS.create("sphere", dim=10)
        start = problem.metrics(problem.initial(0))["train_loss"]
        result = run(problem, optimizer, Budget(evaluations=5000), seed=0)
        assert result.status == "ok" and result.metrics["train_loss"] < start / 10
        assert result.spent["evaluations"] >= 5000
        check_optimizer("hillclimb")  # the README promises it passes
    finally:
        if OPTIMIZERS.knows("hillclimb"):
            OPTIMIZERS.unregister("hillclimb")
