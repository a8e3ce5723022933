"""The one error type users see: a mistake in their input, reported on one line."""


class UserError(Exception):
    """Bad input (an unknown name, a negative budget, a missing data folder).

    The CLI prints ``error: <message>`` and exits with code 2, without a traceback,
    so the message must name the offending thing and, where it helps, the fix.
    """


def one_line(exc: BaseException) -> str:
    """``"ValueError: the first line of its message"``: how a recorded failure names its cause."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
