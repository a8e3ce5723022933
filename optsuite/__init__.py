"""optsuite: gradient-free optimizers against gradient descent on NoProp and whole-network losses.

The names below load on first use (PEP 562), so that ``optsuite -h`` and ``--version`` start without torch.
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("optsuite")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

EXPORTS = {
    "Budget": "budget", "Cost": "problem", "Draw": "problem", "FeatureLayer": "capabilities", "Ledger": "ledger",
    "LinearReadout": "capabilities", "OPTIMIZERS": "registry", "Optimizer": "optimizer", "PROBLEMS": "registry",
    "Problem": "problem", "RunResult": "run", "StepInfo": "optimizer", "UserError": "errors",
    "register_optimizer": "registry", "register_problem": "registry", "run": "run",
}
__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'optsuite' has no attribute {name!r}")
    value = getattr(import_module(f".{EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *EXPORTS])
