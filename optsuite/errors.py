"""The one error type users see: a mistake in their input, reported on one line."""
from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """Bad input (an unknown name, a negative budget, a missing data folder).

    The CLI prints ``error: <message>`` and exits with code 2, without a traceback,
    so the message must name the offending thing and, where it helps, the fix.
    """


def one_line(exc: BaseException) -> str:
    """``"ValueError: the first line of its message"``: how a recorded failure names its cause."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'snes'?)"`` for the name of ``known`` closest to a mistyped ``name``; "" if none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
