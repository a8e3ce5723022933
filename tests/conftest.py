import functools

import pytest
import torch

from optsuite.registry import PROBLEMS

torch.set_num_threads(1)


@functools.lru_cache(maxsize=None)
def default_problem(name: str):
    """Every registered problem must build with its defaults; built once per session."""
    return PROBLEMS.create(name)


@pytest.fixture
def sphere10():
    return PROBLEMS.create("sphere", dim=10)


def one_line_error(capsys, needle: str) -> str:
    """The error printed on stderr: one line, no traceback, containing ``needle``."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err
