"""optsuite: gradient-free optimizers against gradient descent on NoProp and whole-network losses."""
from .budget import Budget
from .capabilities import FeatureLayer, LinearReadout
from .errors import UserError
from .ledger import Ledger
from .optimizer import Optimizer, StepInfo
from .problem import Cost, Draw, Problem
from .registry import OPTIMIZERS, PROBLEMS, register_optimizer, register_problem
from .run import RunResult, run

__version__ = "0.1.0"
__all__ = [
    "Budget", "Cost", "Draw", "FeatureLayer", "Ledger", "LinearReadout", "OPTIMIZERS", "Optimizer", "PROBLEMS",
    "Problem", "RunResult", "StepInfo", "UserError", "register_optimizer", "register_problem", "run",
]
