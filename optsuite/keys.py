"""How a configured problem or optimizer is written: ``sphere(dim=10)``, ``gd(lr=0.01)``.

Results records keep a configuration's settings as JSON; :func:`config_key` writes the
name and settings as users type them on the command line, and :func:`problem_key` reads
a record's JSON back into that form. One format for labels, listings and reports.
"""
from __future__ import annotations

import json
from typing import Any


def config_key(name: str, settings: dict[str, Any]) -> str:
    """``("gd", {"lr": 0.01}) -> "gd(lr=0.01)"`` (settings sorted by name); the bare name without settings."""
    if not settings:
        return name
    return f"{name}({','.join(f'{k}={v}' for k, v in sorted(settings.items()))})"


def settings_of(text: str | None) -> dict[str, Any] | None:
    """A record's settings JSON as a dict; None where it is unreadable or not an object."""
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def problem_key(problem: str, problem_args: str) -> str:
    """``("sphere", '{"dim": 10}') -> "sphere(dim=10)"``; unreadable settings are shown raw."""
    settings = settings_of(problem_args)
    return f"{problem}({problem_args})" if settings is None else config_key(problem, settings)
