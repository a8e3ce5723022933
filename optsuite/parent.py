"""Worker processes that end with their parent.

A pipe to a dead parent may never close (other processes hold its other end), so a
worker could outlive a killed driver by minutes: loky keeps idle workers for 300 s.
:func:`watch_parent`, run in each sandbox and as the initializer of every loky pool,
ends the process within :data:`PARENT_POLL_SECONDS` of its parent's death instead.
"""
from __future__ import annotations

import os
import threading
import time

PARENT_POLL_SECONDS = 0.5  # how often a watched process checks that its parent lives


def exit_with_parent(parent: int) -> None:
    """End this process when ``parent``, the process that started it, is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def watch_parent(parent: int) -> None:
    """Start a daemon thread that ends this process soon after the death of ``parent``, the pid of the
    process that started it (passed in, not read here: a parent that died while this one started must
    count as dead, not as the process this one was handed to)."""
    threading.Thread(target=exit_with_parent, args=(parent,), daemon=True, name="watch-parent").start()
