"""The optsuite command: help and --version on every command, list NAME, and an --out that cannot be a store."""
import pytest

from conftest import one_line_error
from optsuite.cli import main
from optsuite.registry import OPTIMIZERS


P = ["-p", "sphere(dim=10)", "-o", "gd", "-s", "1", "-b", "evaluations=2000"]


@pytest.mark.parametrize("command", [[], ["run"], ["list"], ["report"], ["noprop"], ["bench"]])
def test_help_and_version_on_every_command(command, capsys):
    from importlib.metadata import version

    assert main([*command, "-h"]) == 0
    assert "Usage: optsuite" in capsys.readouterr().out
    assert main([*command, "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"optsuite {version('optsuite')}"


def test_list_name_shows_each_setting_with_its_default_and_meaning(capsys):
    assert main(["list", "snes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in lines if line.startswith("  ")}
    assert set(rows) == set(OPTIMIZERS.get("snes").defaults)
    assert rows["sigma0"][0] == "0.5" and "step size" in rows["sigma0"][1]
    assert main(["list", "noprop-block"]) == 0
    rows = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert {"t", "ridge", "readout_draws", "hidden", "dataset", "device"} <= rows
    assert main(["list", "snez"]) == 2
    one_line_error(capsys, "(did you mean 'snes'?)")


def test_an_out_that_is_a_file_is_refused_before_any_cell_runs(tmp_path, capsys):
    blocker = tmp_path / "some_file"
    blocker.write_text("")
    for out in (blocker, blocker / "store"):
        assert main(["run", *P, "--out", str(out), "-q"]) == 2
        one_line_error(capsys, "a file is in the way")
    store = tmp_path / "store"
    assert main(["run", *P, "--out", str(store), "-q"]) == 0
    capsys.readouterr()
    assert main(["report", str(store), "--out", str(blocker)]) == 2
    one_line_error(capsys, "--out")


@pytest.mark.parametrize("command", [["run", *P], ["noprop", "--set", "T=2"]])
def test_an_empty_out_is_refused_and_writes_nothing_here(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--out", "", "-q"]) == 2
    one_line_error(capsys, "Invalid value for '--out': an empty path names no folder (for the current folder, say '.')")
    assert list(tmp_path.iterdir()) == []
