"""The results store: replacement without duplicates, one writer, crash states that are legal, corruption that is not."""
import json
import os

import pytest

from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.runners.cell import Cell, execute
from optsuite.runners.store import CELLS, MANIFEST, TRACES, Store

CELL_A = Cell("sphere", "montecarlo", 0, {"steps": 5}, {"dim": 3})
CELL_B = Cell("sphere", "gd", 1, {"steps": 4}, {"dim": 3}, {"lr": 0.1})


def fill(path, cells=(CELL_A, CELL_B)):
    rows, traces = zip(*(execute(c) for c in cells))
    with Store(path) as store:
        store.append(list(rows), [t for trace in traces for t in trace])
    return rows


def test_a_stored_cell_is_replaced_with_its_trace_never_duplicated(tmp_path):
    fill(tmp_path)
    rerun, trace = execute(CELL_A)
    with Store(tmp_path) as store:
        store.append([rerun], trace)
    store = Store(tmp_path)
    cells, traces = store.cells(), store.traces()
    assert sorted(cells["cell_id"]) == sorted([CELL_A.cell_id, CELL_B.cell_id])
    assert cells.set_index("cell_id").loc[CELL_A.cell_id, "run_id"] == rerun["run_id"]
    assert len(traces) == 5 + 4 and set(traces["run_id"]) == set(cells["run_id"])
    assert list(traces[traces["cell_id"] == CELL_A.cell_id]["step"]) == [1, 2, 3, 4, 5]


def test_one_writer_at_a_time(tmp_path):
    with Store(tmp_path):
        with pytest.raises(UserError, match="in use by another run"):
            Store(tmp_path).open()
    Store(tmp_path).open().close()  # free again once the first writer is done


def test_a_crash_between_renames_leaves_a_readable_store(tmp_path, monkeypatch):
    """Killed after the manifest and traces were replaced but before cells: both versions are legal."""
    fill(tmp_path, [CELL_A])
    renames = []

    class Killed(BaseException):
        """Stands in for SIGKILL between two renames."""

    def replace_then_die(src, dst):
        if len(renames) == 2:
            raise Killed
        renames.append(dst)
        os.rename(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_die)
    row, trace = execute(CELL_B)
    with pytest.raises(Killed), Store(tmp_path) as store:
        store.append([row], trace)
    monkeypatch.undo()
    assert [os.path.basename(r) for r in renames] == [MANIFEST, TRACES]  # the manifest lists old and new
    store = Store(tmp_path)
    assert list(store.cells()["cell_id"]) == [CELL_A.cell_id]  # the old cells table
    assert set(store.traces()["cell_id"]) == {CELL_A.cell_id}  # new traces file, filtered to stored attempts
    fill(tmp_path, [CELL_B])  # a writer resumes and leaves stray temporaries behind
    assert sorted(Store(tmp_path).cells()["cell_id"]) == sorted([CELL_A.cell_id, CELL_B.cell_id])
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage,needle", [
    (lambda p: flip_byte(p / CELLS), "cells.parquet is corrupt (its checksum"),
    (lambda p: (p / TRACES).write_bytes((p / TRACES).read_bytes()[:100]), "traces.parquet is corrupt (its checksum"),
    (lambda p: (p / CELLS).unlink(), "cells.parquet is missing"),
    (lambda p: (p / MANIFEST).unlink(), "has data files but no manifest.json"),
    (lambda p: (p / MANIFEST).write_text("{not json"), "manifest.json is corrupt"),
])
def test_a_damaged_store_is_a_clear_one_line_error(tmp_path, capsys, damage, needle):
    fill(tmp_path)
    damage(tmp_path)
    with pytest.raises(UserError, match="corrupt|missing|no manifest"):
        store = Store(tmp_path)
        store.cells(), store.traces()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    with pytest.raises(UserError, match=needle.split(" (")[0]):
        Store(tmp_path).open()  # a writer refuses it too: nothing is merged into a damaged store


def test_manifest_lists_checksums_and_row_counts(tmp_path):
    fill(tmp_path)
    files = json.loads((tmp_path / MANIFEST).read_text())["files"]
    assert [v["rows"] for v in files[CELLS]] == [2] and [v["rows"] for v in files[TRACES]] == [9]


def test_retry_counts_failed_and_timed_out_cells_as_unfinished(tmp_path):
    ok, failed = fill(tmp_path)
    with Store(tmp_path) as store:
        store.append([{**failed, "status": "timeout"}], [])
    store = Store(tmp_path)
    assert store.finished_ids() == {ok["cell_id"], failed["cell_id"]}
    assert store.finished_ids(retry=True) == {ok["cell_id"]}
