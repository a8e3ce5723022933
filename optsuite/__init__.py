"""optsuite: gradient-free optimizers against gradient descent on NoProp and whole-network losses."""
from .errors import UserError
from .ledger import Budget, Ledger
from .optimizer import Optimizer, StepInfo
from .problem import Cost, Draw, LinearReadout, Problem
from .registry import OPTIMIZERS, PROBLEMS, register_optimizer, register_problem
from .run import RunResult, run

__version__ = "0.1.0"
__all__ = [
    "Budget", "Cost", "Draw", "Ledger", "LinearReadout", "OPTIMIZERS", "Optimizer", "PROBLEMS",
    "Problem", "RunResult", "StepInfo", "UserError", "register_optimizer", "register_problem", "run",
]
