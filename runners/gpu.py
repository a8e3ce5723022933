"""Sharing a GPU between the cells of a matrix: a per-machine cap on concurrent cells per CUDA device.

Slots are lock files in the machine's temp folder, so every worker process on a machine
(loky workers, Dask workers, several drivers) draws from the same slots. A lock held by
a process that dies is released by the kernel, so a crash never leaks a slot.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

POLL_SECONDS = 0.5


def slot_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / f"optsuite-gpu-slots-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    return folder


def device_key(device: str) -> str | None:
    """``"cuda"`` and ``"cuda:0"`` -> ``"cuda0"``; None for a device that is not a GPU."""
    kind, _, index = device.partition(":")
    return f"cuda{index or 0}" if kind == "cuda" else None


@contextmanager
def gpu_slot(device: str, slots: int) -> Iterator[None]:
    """Hold one of ``slots`` slots of ``device`` while the block runs; CPU cells pass straight through."""
    key = device_key(device)
    if key is None:
        yield
        return
    folder = slot_folder()
    while True:
        for k in range(slots):
            handle = open(folder / f"{key}-{k}.lock", "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                handle.close()  # closing releases the lock
            return
        time.sleep(POLL_SECONDS)
