"""How a configured problem or optimizer is written and read: ``sphere(dim=10)``, ``gd(lr=0.01)``.

Results records keep a configuration's settings as JSON; :func:`config_key` writes the
name and settings as users type them on the command line, :func:`problem_key` reads a
record's JSON back into that form, and :func:`parse_spec` reads what a user typed. One
format for labels, listings, reports and the command line.
"""
from __future__ import annotations

import ast
import json
import re
from typing import Any

from .errors import UserError


def config_key(name: str, settings: dict[str, Any]) -> str:
    """``("gd", {"lr": 0.01}) -> "gd(lr=0.01)"`` (settings sorted by name); the bare name without settings."""
    if not settings:
        return name
    return f"{name}({','.join(f'{k}={v}' for k, v in sorted(settings.items()))})"


LOCATIONS = frozenset({"data_root"})  # settings that say where a problem's data lies, not what it is


def identity(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` without :data:`LOCATIONS`: what names a configured problem in a store, so that a store made with
    the data in one folder resumes and compares where the same data lies in another (a fingerprint of the data says
    whether it is the same: ``problems.datasets.data_fingerprint``)."""
    return {k: v for k, v in settings.items() if k not in LOCATIONS}


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


# -- reading what users type: NAME(key=value,...) -------------------------------------------
OPENERS, CLOSERS = "([{", ")]}"


def split_top(text: str, separator: str) -> list[str]:
    """``text`` split at each ``separator`` outside brackets and quotes: ``"a=[1,2],b='x,y'"`` -> two pieces.

    Unbalanced brackets or an unclosed quote are a one-line UserError.
    """
    pieces, depth, quote, start, i = [], [], None, 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in OPENERS:
            depth.append(CLOSERS[OPENERS.index(char)])
        elif char in CLOSERS:
            if not depth or depth.pop() != char:
                raise UserError(f"{text!r}: unbalanced {char!r}")
        elif not depth and text.startswith(separator, i):
            pieces.append(text[start:i])
            start = i = i + len(separator)
            continue
        i += 1
    if quote or depth:
        raise UserError(f"{text!r}: unclosed {quote or OPENERS[CLOSERS.index(depth[-1])]!r}")
    return pieces + [text[start:]]


def parse_value(text: str) -> Any:
    """A Python literal (number, bool, string, list, dict) where the text is one, else the text itself;
    ``true``/``false`` in any case are booleans."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False}.get(text.lower(), text)


def parse_pairs(items: list[str], what: str) -> dict[str, Any]:
    """``["lr=0.01", "sigma0=[0.1,0.2]"]`` -> ``{"lr": 0.01, "sigma0": [0.1, 0.2]}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {item!r} is not KEY=VALUE")
        if key.strip() in out:
            raise UserError(f"{what} {key.strip()!r} is given twice ({', '.join(items)}); give it once")
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_spec(spec: str, what: str) -> tuple[str, dict[str, Any]]:
    """``"gd(lr=0.01,algorithm=sgd)"`` -> ("gd", {"lr": 0.01, "algorithm": "sgd"}); values may be lists,
    quoted strings or nested brackets (commas inside them do not split)."""
    match = re.fullmatch(r"\s*([^()\s]+)\s*(?:\((.*)\))?\s*", spec, flags=re.S)
    if not match:
        raise UserError(f"{what} {spec!r} is not NAME or NAME(key=value,...)")
    name, inner = match.groups()
    pairs = [p for p in split_top(inner or "", ",") if p.strip()]
    return name, parse_pairs(pairs, f"{what} setting")


PART_SEPARATOR = " + "  # "cma(separable=true) + head: analytic": the optimizer, then per-part overrides


def parse_solver(spec: str, what: str = "optimizer") -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """``"cma(sigma0=0.05) + head: analytic"`` -> (name, hyper, part overrides ``{"head": {"name":
    "analytic", "hyper": {}}}``), the form :func:`solver_key` writes."""
    first, *overrides = split_top(spec, PART_SEPARATOR)
    name, hyper = parse_spec(first, what)
    parts = {}
    for text in overrides:
        label, sep, solver = text.partition(": ")
        if not sep or not label.strip():
            raise UserError(f"{what} {spec!r}: a part override is 'PART: NAME(key=value,...)', not {text!r}")
        if label.strip() in parts:
            raise UserError(f"{what} {spec!r}: part {label.strip()!r} is overridden twice; give one solver per part")
        part_name, part_hyper = parse_spec(solver, f"{what} part {label.strip()!r}")
        parts[label.strip()] = {"name": part_name, "hyper": part_hyper}
    return name, hyper, parts


def solver_key(name: str, hyper: dict[str, Any], parts: dict[str, dict[str, Any]]) -> str:
    """The label of an optimizer with part overrides: ``"cma(sigma0=0.05) + head: analytic"``."""
    overrides = [f"{label}: {config_key(o['name'], o.get('hyper', {}))}" for label, o in sorted(parts.items())]
    return PART_SEPARATOR.join([config_key(name, hyper), *overrides])
