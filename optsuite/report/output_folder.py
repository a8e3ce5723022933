"""Writing a report or an export into ``--out`` so that a reader never finds a partial file that looks whole.

Everything is written first into a hidden folder inside ``out`` (:func:`staged`); only when every file is
complete do its entries replace those of the same names in ``out``: the old ones (and any other entries named
in ``replaces``, such as an earlier report's figures) are moved aside first, the index files go last, and the
hidden folders are removed. A kill while writing leaves ``out`` as it was, beside a hidden ``.*.tmpPID`` folder
that the next writer removes; a kill while moving leaves some new entries, each whole, and no index.

Paths made from a store's names (an optimizer's label as a folder name) must stay inside ``out``
(:func:`inside`).
"""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import UserError
from .results import slug

NEW, OLD = ".optsuite-new.tmp", ".optsuite-old.tmp"  # the hidden folders, each name followed by the writer's pid
OURS = re.compile(rf"({re.escape(NEW)}|{re.escape(OLD)})(\d+)")


def inside(root: Path, name: str) -> Path:
    """``root / name`` for a ``name`` made from a store's data; one that would not be a folder or file strictly
    inside ``root`` (``..``, ``.``, an absolute path) is a one-line UserError."""
    path = root / name
    if path.resolve().parent != root.resolve():
        raise UserError(f"the name {name!r}, taken from the store, would write outside {root}; refused")
    return path


def folders(root: Path, names: Sequence[str]) -> dict[str, Path]:
    """A folder inside ``root`` for each of ``names`` (optimizer labels), named by its :func:`slug`; two names
    that would share a folder are a one-line UserError, never one folder overwriting the other's files."""
    out: dict[str, Path] = {}
    for name in names:
        path = inside(root, slug(name, "optimizer"))
        other = next((n for n, p in out.items() if p == path), None)
        if other is not None:
            raise UserError(f"{other!r} and {name!r} would share the folder {path.name!r}; relabel one of them")
        out[name] = path
    return out


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(out: Path) -> None:
    """Delete the hidden folders that a writer killed earlier left in ``out``."""
    for path in out.iterdir():
        match = OURS.fullmatch(path.name)
        if match and not running(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staged(out: Path, last: Sequence[str] = (), replaces: Sequence[str] = ()) -> Iterator[Path]:
    """A hidden empty folder inside ``out`` (which must exist) to write into; on leaving without error its
    entries replace those of ``out``, those named in ``last`` last and in that order, and the entries of
    ``out`` named in ``replaces`` go too. On an error (or an interrupt) ``out`` is left as it was."""
    remove_leftovers(out)
    stage, old = out / f"{NEW}{os.getpid()}", out / f"{OLD}{os.getpid()}"
    stage.mkdir()
    try:
        yield stage
        names = sorted(p.name for p in stage.iterdir())
        names = [n for n in names if n not in last] + [n for n in last if n in names]
        old.mkdir()
        for name in dict.fromkeys([*replaces, *names]):
            if (out / name).exists() or (out / name).is_symlink():
                os.replace(out / name, old / name)
        for name in names:
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
