"""The results store: replacement without duplicates, one writer, crash states that are legal, corruption that is not."""
import io
import json
import os
import re

import pandas as pd
import pytest

from conftest import one_line_error
from optsuite.cli import main
from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.runners.cell import Cell, result_rows
from optsuite.store import CELLS, MANIFEST, TRACES, Store, part_name, sha256
from store_edits import edit_manifest, rewrite

CELL_A = Cell("sphere", "montecarlo", 0, Budget(steps=5), {"dim": 3})
CELL_B = Cell("sphere", "gd", 1, Budget(steps=4), {"dim": 3}, {"lr": 0.1})


def fill(path, cells=(CELL_A, CELL_B)):
    rows, traces = zip(*(result_rows(c) for c in cells))
    with Store(path) as store:
        store.append(list(rows), [t for trace in traces for t in trace])
    return rows


def test_a_stored_cell_is_replaced_with_its_trace_never_duplicated(tmp_path):
    fill(tmp_path)
    rerun, trace = result_rows(CELL_A)
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
    """Killed after the manifest and the new trace part landed but before cells: both versions are legal."""
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
    row, trace = result_rows(CELL_B)
    with pytest.raises(Killed), Store(tmp_path) as store:
        store.append([row], trace)
    monkeypatch.undo()
    assert [os.path.basename(r) for r in renames] == [MANIFEST, part_name(2)]  # the manifest lists old and new
    store = Store(tmp_path)
    assert list(store.cells()["cell_id"]) == [CELL_A.cell_id]  # the old cells table
    assert set(store.traces()["cell_id"]) == {CELL_A.cell_id}  # new trace part, filtered to stored attempts
    fill(tmp_path, [CELL_B])  # a writer resumes and leaves stray temporaries behind
    store = Store(tmp_path)
    assert sorted(store.cells()["cell_id"]) == sorted([CELL_A.cell_id, CELL_B.cell_id])
    assert len(store.traces()) == 5 + 4 and not store.traces().duplicated(["run_id", "step"]).any()
    assert not (tmp_path / part_name(2)).exists()  # the part whose cell rows never landed is deleted
    assert len(pd.read_parquet(tmp_path / part_name(3))) == 4  # and its number is not reused by the same writer
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]
    assert all(len(v) == 1 for v in json.loads((tmp_path / MANIFEST).read_text())["files"].values())


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def as_folder(file):
    file.unlink()
    file.mkdir()


DAMAGES = {
    "cells.parquet flipped": (lambda p: flip_byte(p / CELLS), "cells.parquet is corrupt (its checksum"),
    "trace part truncated": (lambda p: (p / part_name(1)).write_bytes((p / part_name(1)).read_bytes()[:100]),
                             "traces-00001.parquet is corrupt (its checksum"),
    "trace part deleted": (lambda p: (p / part_name(1)).unlink(), "traces-00001.parquet is missing"),
    "cells.parquet deleted": (lambda p: (p / CELLS).unlink(), "cells.parquet is missing"),
    "manifest deleted": (lambda p: (p / MANIFEST).unlink(), "has data files but no manifest.json"),
    "manifest not json": (lambda p: (p / MANIFEST).write_text("{not json"), "manifest.json is corrupt"),
    "a trace part left out of the manifest": (lambda p: edit_manifest(p, lambda m: m["files"].pop(part_name(2))),
                                              f"is damaged: cell {CELL_B.cell_id} has 0 trace rows, its cell row says 4"),
    "an unknown manifest format": (lambda p: edit_manifest(p, lambda m: m.update(format=99)), "has format 99"),
    "cells.parquet a folder": (lambda p: as_folder(p / CELLS), "cells.parquet cannot be read (Is a directory)"),
    "manifest.json a folder": (lambda p: as_folder(p / MANIFEST), "manifest.json cannot be read (Is a directory)"),
    "cells without status": (lambda p: rewrite(p, CELLS, pd.read_parquet(p / CELLS).drop(columns="status")),
                             "cells.parquet is damaged: it has no status column"),
    "cells of other traces": (lambda p: rewrite(p, CELLS, pd.read_parquet(p / CELLS).assign(trace_rows=[5, 2])),
                              "has 4 trace rows, its cell row says 2"),
}


@pytest.mark.parametrize("damage,needle", DAMAGES.values(), ids=DAMAGES)
def test_a_damaged_store_is_a_clear_one_line_error(tmp_path, capsys, damage, needle):
    fill(tmp_path, [CELL_A])
    fill(tmp_path, [CELL_B])  # two trace parts
    damage(tmp_path)
    with pytest.raises(UserError, match="corrupt|missing|no manifest|damaged|format|cannot be read"):
        store = Store(tmp_path)
        store.cells(), store.traces()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    with pytest.raises(UserError, match=re.escape(needle.split(" (")[0])):
        Store(tmp_path).open()  # a writer refuses it too: nothing is merged into a damaged store


@pytest.mark.parametrize("damage", ["a trace part left out of the manifest", "an unknown manifest format",
                                    "cells.parquet a folder", "manifest.json a folder", "cells without status"])
def test_every_command_refuses_a_damaged_store_in_one_line(tmp_path, capsys, damage):
    fill(tmp_path / "store", [CELL_A])
    fill(tmp_path / "store", [CELL_B])
    DAMAGES[damage][0](tmp_path / "store")
    damaged = {p.name: p.read_bytes() for p in (tmp_path / "store").iterdir() if p.is_file() and p.name != ".lock"}
    store, out = str(tmp_path / "store"), str(tmp_path / "out")
    for command in (["run", "-p", "sphere(dim=3)", "-o", "gd", "--out", store, "--dry-run"],
                    ["run", "-p", "sphere(dim=3)", "-o", "gd", "--out", store, "-q"],
                    ["report", store], ["export", store, "--format", "csv", "--out", out]):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert DAMAGES[damage][1] in err and len(err.splitlines()) == 1, (command, err)
    after = {p.name: p.read_bytes() for p in (tmp_path / "store").iterdir() if p.is_file() and p.name != ".lock"}
    assert after == damaged  # refused as it was: nothing deleted, nothing settled


def test_manifest_lists_checksums_and_row_counts(tmp_path):
    fill(tmp_path)
    files = json.loads((tmp_path / MANIFEST).read_text())["files"]
    assert [v["rows"] for v in files[CELLS]] == [2] and [v["rows"] for v in files[part_name(1)]] == [9]


def test_retry_counts_failed_and_timed_out_cells_as_unfinished(tmp_path):
    ok, failed = fill(tmp_path)
    with Store(tmp_path) as store:
        store.append([{**failed, "status": "timeout"}], [])
    store = Store(tmp_path)
    assert store.finished_ids() == {ok["cell_id"], failed["cell_id"]}
    assert store.finished_ids(retry=True) == {ok["cell_id"]}


def test_a_flush_writes_only_its_own_rows_and_reading_concatenates_the_parts(tmp_path):
    cells = [Cell("sphere", "montecarlo", seed, Budget(steps=3 + seed), {"dim": 2}) for seed in range(3)]
    seen = {}
    for number, cell in enumerate(cells, start=1):
        fill(tmp_path, [cell])
        for earlier, (data, mtime) in seen.items():  # earlier parts are never rewritten
            assert (tmp_path / earlier).read_bytes() == data and (tmp_path / earlier).stat().st_mtime_ns == mtime
        part = tmp_path / part_name(number)
        seen[part.name] = part.read_bytes(), part.stat().st_mtime_ns
        assert len(pd.read_parquet(part)) == 3 + number - 1  # this flush's rows alone
    parts = pd.concat([pd.read_parquet(tmp_path / name) for name in seen], ignore_index=True)
    pd.testing.assert_frame_equal(Store(tmp_path).traces(), parts)
    assert sorted(p.name for p in tmp_path.glob("traces*")) == sorted(seen)


def test_writing_the_same_attempt_twice_reads_back_its_rows_once(tmp_path):
    """A flush repeated after a failed write (the same rows and run_id) adds a part but no duplicates."""
    row, trace = result_rows(CELL_A)
    for _ in range(2):
        with Store(tmp_path) as store:
            store.append([row], trace)
    assert len(pd.read_parquet(tmp_path / part_name(2))) == 5
    traces = Store(tmp_path).traces()
    assert list(traces["step"]) == [1, 2, 3, 4, 5] and set(traces["run_id"]) == {row["run_id"]}


def write_single_file_store(path, rows, traces):
    """A store as written before trace parts existed: one traces.parquet, format 1 manifest."""
    files = {}
    for name, frame in ((CELLS, pd.DataFrame(rows)), (TRACES, pd.DataFrame(traces))):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        (path / name).write_bytes(buffer.getvalue())
        files[name] = [{"sha256": sha256(buffer.getvalue()), "rows": len(frame)}]
    (path / MANIFEST).write_text(json.dumps({"format": 1, "files": files}))


def test_a_single_file_store_still_reads_and_takes_new_parts_after_it(tmp_path):
    (a, trace_a), (b, trace_b), (again, trace_again) = result_rows(CELL_A), result_rows(CELL_B), result_rows(CELL_A)
    write_single_file_store(tmp_path, [a, b], trace_a + trace_b)
    legacy = (tmp_path / TRACES).read_bytes()
    assert len(Store(tmp_path).traces()) == 5 + 4
    with Store(tmp_path) as store:
        store.append([again], trace_again)  # a retry of CELL_A: its old rows stay in traces.parquet
    store = Store(tmp_path)
    traces = store.traces()
    assert (tmp_path / TRACES).read_bytes() == legacy and (tmp_path / part_name(1)).exists()
    assert len(traces) == 5 + 4 and set(traces["run_id"]) == {b["run_id"], again["run_id"]}
    assert list(traces["run_id"]) == [b["run_id"]] * 4 + [again["run_id"]] * 5  # parts in order, traces.parquet first


def test_the_source_hash_follows_every_python_file_and_only_those(tmp_path):
    from optsuite.runners.cell import source_hash

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 2\n")
    before = source_hash([tmp_path / "pkg"])
    (tmp_path / "pkg" / "notes.txt").write_text("not code")
    assert source_hash([tmp_path / "pkg"]) == before and len(before) == 16
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 3\n")
    assert source_hash([tmp_path / "pkg"]) != before


def test_cells_record_the_code_that_made_them_and_stale_ones_count_as_unfinished(tmp_path):
    from optsuite.runners.cell import code_hash

    a, b = fill(tmp_path)
    assert a["code"] == b["code"] == code_hash()
    store = Store(tmp_path)
    assert store.finished_ids(code=code_hash()) == {a["cell_id"], b["cell_id"]}
    assert store.finished_ids(code="another") == set() and len(store.finished_ids()) == 2


def run_sphere(out, *extra):
    return main(["run", "-p", "sphere(dim=3)", "-o", "gd", "-s", "2", "-b", "steps=3", "-q", "--out", str(out), *extra])


def test_resuming_over_other_code_warns_and_keeps_or_reruns_the_cells(tmp_path, monkeypatch, capsys):
    from optsuite.runners import execute

    assert run_sphere(tmp_path) == 0
    first = set(Store(tmp_path).cells()["run_id"])
    capsys.readouterr()
    monkeypatch.setattr(execute, "code_hash", lambda: "0123456789abcdef")  # as if the code had changed since
    assert run_sphere(tmp_path) == 0
    err = capsys.readouterr().err
    assert "warning: 2 stored cells were made by other code" in err and "--rerun-stale" in err
    assert set(Store(tmp_path).cells()["run_id"]) == first  # kept
    assert run_sphere(tmp_path, "--rerun-stale") == 0
    assert "running them again" in capsys.readouterr().err
    assert set(Store(tmp_path).cells()["run_id"]).isdisjoint(first)  # both cells ran again


FULL_DISK = """
import errno, os, sys
from optsuite.cli import main
real, calls = os.fsync, []
def fsync(fd):  # the disk fills up after the first flush (6 fsyncs: part, cells, two manifests and their folder)
    calls.append(fd)
    if len(calls) > 6:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd)
os.fsync = fsync
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_full_disk_is_one_line_that_says_rerunning_resumes_and_leaves_no_temporary(tmp_path):
    import subprocess
    import sys

    args = ["run", "-p", "sphere(dim=3)", "-o", "gd", "-o", "montecarlo", "-s", "20", "-b", "steps=3", "-j", "2", "-q"]
    full = subprocess.run([sys.executable, "-c", FULL_DISK, *args, "--out", str(tmp_path / "full")],
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 2, full.stderr
    assert full.stderr.strip() == (f"error: results store {tmp_path / 'full'}: cannot write (No space left on device); "
                                   "the cells stored before are safe: make room, then run the same command again to "
                                   "resume")
    assert not [p for p in os.listdir(tmp_path / "full") if ".tmp" in p]
    assert 0 < len(Store(tmp_path / "full").cells()) < 40  # the first flush's cells
    assert main([*args, "--out", str(tmp_path / "full")]) == 0  # resumes
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    resumed, whole = (Store(tmp_path / name).cells().set_index("cell_id").sort_index() for name in ("full", "whole"))
    assert resumed.index.equals(whole.index) and resumed["metric_train_loss"].equals(whole["metric_train_loss"])


P = ["-p", "sphere(dim=10)", "-o", "gd", "-s", "1", "-b", "evaluations=2000"]


def test_a_read_only_out_is_refused(tmp_path):
    from unprivileged import optsuite

    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    done = optsuite("run", *P, "--out", str(folder), "-q")
    err = done.stderr.strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1
    assert err == f"error: results store {folder}: cannot write there (Permission denied)"
    assert list(folder.iterdir()) == []


def test_dry_run_and_resume_agree_on_a_damaged_trace_part(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["run", *P, "--out", str(store), "-q"]) == 0
    part = next(store.glob("traces-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(data)
    capsys.readouterr()
    assert main(["run", *P, "--out", str(store), "--dry-run"]) == 2
    refused = one_line_error(capsys, part.name)
    assert main(["run", *P, "--out", str(store), "-q"]) == 2
    assert one_line_error(capsys, part.name) == refused


def test_a_store_resumes_where_the_same_data_lies_in_another_folder_and_refuses_other_data(tmp_path, capsys):
    from tiny_datasets import write_mnist

    write_mnist(tmp_path / "a")
    write_mnist(tmp_path / "b" / "MNIST" / "raw", gz=True)  # the same data, compressed, in torchvision's layout
    write_mnist(tmp_path / "c", seed=1)  # other data of the same name
    store = tmp_path / "store"
    args = lambda root, *more: ["run", "-p", f"noprop-dt(T=2,hidden=8,dataset=mnist,data_root={tmp_path / root})",
                                "-o", "gd", "-o", "snes", "-s", "2", "-b", "sample_forwards=2e4", "--out", str(store),
                                "-q", *more]
    assert main(args("a")) == 0
    first = pd.read_parquet(store / CELLS)
    assert len(first) == 4 and first["data"].nunique() == 1
    assert not any("data_root" in a for a in first["problem_args"])  # a location is not part of a problem's key
    assert main(args("b")) == 0  # resumes: every cell already stored, none run again
    assert pd.read_parquet(store / CELLS)["run_id"].tolist() == first["run_id"].tolist()
    capsys.readouterr()
    assert main(args("c")) == 2
    one_line_error(capsys, "other data of that name")
    assert main(args("c", "--retry")) == 2
    one_line_error(capsys, f"those in {tmp_path / 'c'} give")
    assert main(args("c", "--dry-run")) == 2  # the dry run checks the store as the run does
    one_line_error(capsys, "other data of that name")
    assert pd.read_parquet(store / CELLS)["run_id"].tolist() == first["run_id"].tolist()
    # a store whose runs keyed the problem with its data_root (written before) is named as such, not as another
    # matrix's
    old = first.assign(problem_args=[a[:-1] + f', "data_root": "{tmp_path / "a"}"}}' for a in first["problem_args"]])
    rewrite(store, CELLS, old.drop(columns="data"))
    assert main(args("a")) == 2
    one_line_error(capsys, "name their data_root in the problem's key")


def test_a_tuned_entry_on_other_data_of_the_same_name_is_refused(tmp_path, capsys):
    from tiny_datasets import write_mnist

    write_mnist(tmp_path / "a")
    write_mnist(tmp_path / "c", seed=1)
    spec = lambda root: tmp_path / root / "m.toml"
    for root in ("a", "c"):
        spec(root).write_text(f"""seeds = 2
budgets = [{{ sample_forwards = 20_000 }}]
tuning = {{ seeds = 1 }}
[[problems]]
name = "noprop-dt"
settings = {{ T = 2, hidden = 8, dataset = "mnist", data_root = "{tmp_path / root}" }}
[[optimizers]]
name = "gd"
tune = {{ lr = [0.01, 0.1] }}
""")
    store = tmp_path / "store"
    assert main(["run", str(spec("a")), "--out", str(store), "-q"]) == 0
    before = pd.read_parquet(store / CELLS)
    assert len(before) == 4 and set(before["role"]) == {"tune", "evaluate"}  # every cell of the matrix is tuned
    capsys.readouterr()
    for more in ([], ["--dry-run"]):
        assert main(["run", str(spec("c")), "--out", str(store), "-q", *more]) == 2
        one_line_error(capsys, "other data of that name")
    assert pd.read_parquet(store / CELLS)["run_id"].tolist() == before["run_id"].tolist()
