"""What every command says about itself: --version, help that fits and names its choices, and a fast start."""
import subprocess
import sys

import pytest
import typer

from optsuite.cli import app, main

COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]


def test_every_command_takes_version(capsys):
    assert set(COMMANDS) >= {"list", "noprop", "run", "report", "export", "bench"}
    for command in COMMANDS:
        assert main([command, "--version"]) == 0, command
        assert capsys.readouterr().out.startswith("optsuite ")


def help_of(*args: str, columns: int = 80) -> str:
    return subprocess.run([sys.executable, "-m", "optsuite", *args, "-h"], capture_output=True, text=True, check=True,
                          env={"COLUMNS": str(columns), "PATH": ""}).stdout


def test_top_level_help_shows_each_description_whole():
    text = help_of()
    assert "..." not in text.split("Commands:")[1]
    assert all(len(line) <= 80 for line in text.splitlines())
    assert all(f"  {c} " in text for c in COMMANDS)


@pytest.mark.parametrize("command", ["run", "noprop", "report", "export", "bench", "list"])
def test_command_help_names_metavars_and_choices(command):
    text = help_of(command)
    assert "list[" not in text and "<str>" not in text.split("Options:")[-1]
    if command == "export":
        assert "--format [coco|ioh|csv]" in text and "--cost [sample_forwards|evaluations]" in text
    if command == "run":
        assert "-b, --budget UNIT=VALUE" in text and "--backend [loky|dask]" in text


def test_a_bad_choice_is_one_line(capsys):
    assert main(["export", "store", "--format", "xls", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose coco, ioh, csv" in err


def test_help_and_version_start_without_torch(tmp_path):
    code = ("import sys; from optsuite.cli import main; main(['--version']); "
            "print(sorted(m for m in ('torch', 'pandas', 'numpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.splitlines() == [out.splitlines()[0], "[]"] and out.startswith("optsuite ")


def test_python_m_optsuite_runs_the_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "optsuite", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("optsuite ")


def test_the_package_names_still_load_on_use():
    code = "import optsuite; print(optsuite.Budget(steps=3).steps, callable(optsuite.run), 'Problem' in dir(optsuite))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "True", "True"]
    with pytest.raises(AttributeError):
        __import__("optsuite").no_such_name
