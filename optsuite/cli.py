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

DEFAULT_BASELINE = "gd"  # the paired tests' baseline where the store has it and none is named
DEFAULT_REFERENCES = ("analytic", "gd")  # whose final train loss sets the loss targets: exact, then gd

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


@app.command("noprop")
def noprop_command(
    optimizer: str = typer.Option("gd", "--optimizer", "-o", help="NAME or NAME(key=value,...) for every block and the head"),
    setting: list[str] = typer.Option([], "--set", help="network setting KEY=VALUE (dataset, block, T, embedding, hidden, ridge, ...); repeatable"),
    budget: list[str] = typer.Option([], "--budget", "-b", help="UNIT=VALUE per part, repeatable (default: the optimizer's)"),
    seeds: int = typer.Option(1, "--seeds", "-s", help="run seeds 0..N-1; data_seed follows the seed unless set"),
    jobs: int = typer.Option(1, "--jobs", "-j", help="parts trained in parallel"),
) -> None:
    """Train a NoProp-DT network part by part (T blocks and the head), print its test accuracy and total cost."""
    from optsuite.budget import Budget
    from optsuite.runners.noprop_pipeline import summary_lines, train_noprop

    if seeds < 1:
        raise UserError(f"--seeds {seeds} must be at least 1")
    name, hyper = parse_spec(optimizer, "optimizer")
    settings = parse_pairs(setting, "--set")
    limits = Budget.parse(budget) if budget else None
    results = [train_noprop({"data_seed": s, **settings}, name, hyper, limits, s, jobs) for s in range(seeds)]
    for line in summary_lines(results):
        typer.echo(line)


@app.command("run")
def run_command(
    matrix: Optional[str] = typer.Argument(None, help="a matrix spec (TOML) file, or a packaged matrix: default, gpu"),
    problem: list[str] = typer.Option([], "--problem", "-p", help="NAME or NAME(key=value,...); repeatable (default least-squares)"),
    optimizer: list[str] = typer.Option([], "--optimizer", "-o", help="NAME or NAME(key=value,...); repeatable (default gd, montecarlo)"),
    seeds: Optional[int] = typer.Option(None, "--seeds", "-s", help="run seeds 0..N-1 (default 3)"),
    budget: list[str] = typer.Option([], "--budget", "-b", help="UNIT=VALUE, repeatable (default: each optimizer's)"),
    out: Optional[Path] = typer.Option(None, "--out", help="results store folder (default results/NAME of the matrix, or results/run-TIME)"),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="cells in parallel (default: the matrix's, else 1)"),
    backend: str = typer.Option("loky", "--backend", help="loky (this machine) or dask (a cluster)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler ADDRESS (default: a local cluster of -j workers)"),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="seconds per cell; an overrun is recorded as status timeout"),
    gpu_slots: Optional[int] = typer.Option(None, "--gpu-slots", help="concurrent cells per CUDA device and machine (default 1)"),
    retry: bool = typer.Option(False, "--retry", help="run stored cells that failed or timed out again"),
    rerun_stale: bool = typer.Option(False, "--rerun-stale", help="run stored cells made by other code again"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the cells and their stored status; run nothing"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (for CI)"),
) -> None:
    """Run a benchmark matrix (a spec file, or -p/-o/-s/-b flags), store the results, print the comparison table.

    Running the same command again resumes: cells already in the store are skipped.
    """
    from optsuite.runners.execute import Backend, resume
    from optsuite.runners.sandbox import Job
    from optsuite.runners.matrix import listing
    from optsuite.runners.spec import from_flags, load_matrix
    from optsuite.runners.store import Store

    if matrix and (problem or optimizer or seeds is not None or budget):
        raise UserError("give a matrix file or -p/-o/-s/-b flags, not both")
    if matrix:
        spec = load_matrix(matrix, local=backend != "dask" and not dry_run)
    else:
        specs = lambda items, what: [(text, *parse_spec(text, what)) for text in items]
        spec = from_flags(specs(problem or ["least-squares"], "problem"), specs(optimizer or ["gd", "montecarlo"], "optimizer"),
                          3 if seeds is None else seeds, budget)
    runner = Backend(backend, jobs if jobs is not None else spec.run.jobs or 1, scheduler)
    limit = time_limit if time_limit is not None else spec.run.time_limit
    slots = gpu_slots if gpu_slots is not None else spec.run.gpu_slots or 1
    if limit is not None and limit <= 0:
        raise UserError(f"--time-limit {limit:g} must be positive")
    if slots < 1:
        raise UserError(f"--gpu-slots {slots} must be at least 1")
    default_out = Path("results") / (spec.name if matrix else time.strftime("run-%Y%m%d-%H%M%S"))
    store = Store(out or default_out)
    if dry_run:
        stored = store.cells()
        statuses = dict(zip(stored["cell_id"], stored["status"])) if len(stored) else {}
        typer.echo("\n".join(listing(spec, statuses)))
        return
    mode = "quiet" if quiet else "auto"
    try:
        cells = resume(spec.cells, store, Job(limit, None, spec.plugins, slots), runner, retry, mode, rerun_stale)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished cells are stored in {store.path}; run the same command to resume", err=True)
        raise typer.Abort() from None
    typer.echo(summary_text(cells, None))
    if not quiet:
        typer.echo(f"results: {store.path}", err=True)


def summary_text(cells, baseline: str | None) -> str:
    """The compact comparison table of stored ``cells`` as text, paired tests against ``baseline``
    (default :data:`DEFAULT_BASELINE` where the cells have it)."""
    import pandas as pd

    from optsuite.report.results import Results
    from optsuite.report.summary import resolve_baseline, summarize
    from optsuite.report.tables import to_text

    results = Results(cells, pd.DataFrame())
    return to_text(summarize(results, resolve_baseline(results, baseline, DEFAULT_BASELINE)))


@app.command("report")
def report_command(
    results: Path = typer.Argument(..., help="a results store folder"),
    out: Optional[Path] = typer.Option(None, "--out", help="write tables (md, csv, tex, html) and figures here"),
    baseline: Optional[str] = typer.Option(None, "--baseline", help=f"optimizer label for paired tests (default {DEFAULT_BASELINE} where the store has it)"),
    reference: list[str] = typer.Option([], "--reference", help=f"optimizer whose best final train loss sets the loss targets; repeatable, first present wins (default {' then '.join(DEFAULT_REFERENCES)})"),
) -> None:
    """Print the comparison table of a results store; with --out, write the full report."""
    from optsuite.report import builder
    from optsuite.report.results import Results
    from optsuite.report.summary import quality_by_problem, resolve_baseline, summarize
    from optsuite.report.tables import to_text

    loaded = Results.load(results)
    chosen = resolve_baseline(loaded, baseline, DEFAULT_BASELINE)
    rows = quality_by_problem(loaded, chosen)  # once, for the table and the report
    typer.echo(to_text(summarize(loaded, chosen, rows)))
    if out is not None:
        command = " ".join(["optsuite report", str(results), "--out", str(out)]
                           + (["--baseline", baseline] if baseline else []) + [f"--reference {r}" for r in reference])
        index = builder.write(loaded, out, chosen, reference or DEFAULT_REFERENCES, command, rows)
        typer.echo(f"report: {index[0]}", err=True)


@app.command("bench")
def bench_command(
    small: bool = typer.Option(False, "--small", help="CPU-friendly sizes that run in seconds"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)"),
    precision: str = typer.Option("float32", "--precision", help="float32, tf32 or bf16"),
    steps: bool = typer.Option(True, "--steps/--no-steps", help="time the optimizers' own step per generation"),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="timed samples per median"),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's)"),
    kernel: str = typer.Option("auto", "--kernel", help="auto (fused on CUDA where it applies), bmm or fused"),
) -> None:
    """Population evaluation speed against a loop and vmap, and the optimizers' own step time."""
    from optsuite.benchmarks.population_eval import benchmark

    for line in benchmark(small, device, precision, steps, repeats, threads, kernel):
        typer.echo(line)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with exit code 2 for bad input."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="optsuite", standalone_mode=False)
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
    return code if isinstance(code, int) else 0  # typer.Exit(code) comes back as a return value


if __name__ == "__main__":
    sys.exit(main())
