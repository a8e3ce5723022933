"""Modules a matrix imports by file path, so that the problems and optimizers they register can run.

A matrix's ``imports = ["my_optimizer.py"]`` (paths relative to the matrix file) is
loaded in the driver before validation and in every worker before its first cell, so a
one-file optimizer takes part in a matrix without being installed. Under Dask the
files must exist at the same absolute paths on every worker machine.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from optsuite.errors import UserError, one_line


def module_name(path: Path) -> str:
    """A stable, unique module name for the file at ``path``."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    return f"optsuite_plugin_{path.stem}_{digest}"


def load_plugins(paths: list[str] | tuple[str, ...]) -> None:
    """Import each file (absolute paths) once per process; a later call is a no-op."""
    for text in paths:
        path = Path(text)
        name = module_name(path)
        if name in sys.modules:
            continue
        if not path.is_file():
            raise UserError(f"imports: no file {path}")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # a file that exits must not end the run silently
            del sys.modules[name]
            why = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else one_line(exc)
            raise UserError(f"imports: {path} failed to import ({why})") from None
