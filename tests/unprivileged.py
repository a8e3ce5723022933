"""Running a command as a user whom file modes bind: root's power to override them (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH) dropped from the capability bounding set with util-linux's setpriv."""
import os
import shutil
import subprocess
import sys

import pytest

OVERRIDES = "-dac_override,-dac_read_search"


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` prefixed so that it runs bound by file modes; the test is skipped where that cannot be arranged."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None or subprocess.run([setpriv, "--bounding-set", OVERRIDES, "true"]).returncode != 0:
        pytest.skip("runs as root without setpriv to drop the capabilities that override file modes")
    return [setpriv, "--bounding-set", OVERRIDES, *argv]


def optsuite(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``optsuite ARGS`` bound by file modes; stdout and stderr captured as text."""
    return subprocess.run(unprivileged([sys.executable, "-m", "optsuite.cli", *args]), capture_output=True, text=True,
                          timeout=300, cwd=cwd)
