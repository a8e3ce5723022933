"""The ``optsuite`` command: run, list, report.

Bad input exits with code 2 and one line naming the problem; no traceback.
"""
from __future__ import annotations

import ast
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Optional

import typer
from typer._click import exceptions as click_errors  # typer vendors its own click

from .errors import UserError
from .registry import OPTIMIZERS, PROBLEMS
from .summary import format_table, summarize

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Compare optimizers on NoProp and whole-network losses.")


def parse_value(text: str) -> Any:
    """A literal (number, bool, list) where the text is one, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False}.get(text.lower(), text)


def parse_pairs(items: list[str], what: str) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {item!r} is not KEY=VALUE")
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_spec(spec: str, what: str) -> tuple[str, dict[str, Any]]:
    """``"gd(lr=0.01,algorithm=sgd)"`` -> ("gd", {"lr": 0.01, "algorithm": "sgd"})."""
    match = re.fullmatch(r"\s*([^()\s]+)\s*(?:\((.*)\))?\s*", spec)
    if not match:
        raise UserError(f"{what} {spec!r} is not NAME or NAME(key=value,...)")
    name, inner = match.groups()
    pairs = [p for p in (inner or "").split(",") if p.strip()]
    return name, parse_pairs(pairs, f"{what} setting")


@app.command("list")
def list_command(what: str = typer.Argument("all", help="optimizers, problems or all")) -> None:
    """Show the registered optimizers and problems, one line each."""
    registries = {"optimizers": OPTIMIZERS, "problems": PROBLEMS}
    if what not in (*registries, "all"):
        raise UserError(f"cannot list {what!r}; choose optimizers, problems or all")
    for name, registry in registries.items():
        if what in (name, "all"):
            typer.echo(f"{name}:")
            rows = registry.describe()
            width = max(len(n) for n, _ in rows)
            for n, desc in rows:
                typer.echo(f"  {n.ljust(width)}  {desc}")


@app.command("run")
def run_command(
    problem: list[str] = typer.Option(["least-squares"], "--problem", "-p", help="NAME or NAME(key=value,...); repeatable"),
    optimizer: list[str] = typer.Option(["gd", "montecarlo"], "--optimizer", "-o", help="NAME or NAME(key=value,...); repeatable"),
    seeds: int = typer.Option(3, "--seeds", "-s", help="run seeds 0..N-1"),
    budget: list[str] = typer.Option([], "--budget", "-b", help="UNIT=VALUE, repeatable (default: each optimizer's)"),
    out: Optional[Path] = typer.Option(None, "--out", help="results store folder (default results/run-TIME)"),
) -> None:
    """Run every problem x optimizer x seed, store the results, print the comparison table."""
    from optsuite.ledger import Budget
    from optsuite.runners.cell import Cell, execute
    from optsuite.runners.store import Store

    if seeds < 1:
        raise UserError(f"--seeds {seeds} must be at least 1")
    budget_dict = Budget.parse(budget).as_dict() if budget else {}
    cells = []
    for p in problem:
        pname, pargs = parse_spec(p, "problem")
        for o in optimizer:
            oname, hyper = parse_spec(o, "optimizer")
            cells += [Cell(pname, oname, s, budget_dict, pargs, hyper) for s in range(seeds)]
    for c in {(c.problem, c.optimizer, str(c.problem_args), str(c.hyper)): c for c in cells}.values():
        c.build()  # validate every name and setting before anything runs
    store = Store(out or Path("results") / time.strftime("run-%Y%m%d-%H%M%S"))
    for i, cell in enumerate(cells, 1):
        row, trace = execute(cell)
        store.append([row], trace)
        typer.echo(f"[{i}/{len(cells)}] {cell.problem} {cell.label} seed={cell.seed}: {row['status']}"
                   + (f" ({row['error']})" if row["error"] else ""), err=True)
    typer.echo(format_table(summarize(store.cells())))
    typer.echo(f"results: {store.path}", err=True)


@app.command("report")
def report_command(results: Path = typer.Argument(..., help="a results store folder")) -> None:
    """Print the comparison table of a results store."""
    from optsuite.runners.store import Store

    if not results.is_dir():
        raise UserError(f"no results store at {results}")
    cells = Store(results).cells()
    if cells.empty:
        raise UserError(f"results store {results} holds no cells")
    typer.echo(format_table(summarize(cells)))


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with exit code 2 for bad input."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="optsuite", standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "usage: optsuite COMMAND", file=sys.stderr)
        return 2
    except click_errors.UsageError as exc:
        print(f"error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
        return 2
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("OPTSUITE_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (set OPTSUITE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
