"""The ``optsuite`` command: run, list, report, export, noprop, bench.

Bad input exits with code 2 and one line naming the problem; no traceback.
"""
from __future__ import annotations

import inspect
import os
import signal
import sys
import threading
import time
import traceback
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, Optional

import typer
from typer._click import exceptions as click_errors  # typer vendors its own click

from .errors import UserError, did_you_mean
from .keys import parse_pairs
from .registry import OPTIMIZERS, PROBLEMS, first_line

DEFAULT_BASELINE = "gd"  # the paired tests' baseline where the store has it and none is named
DEFAULT_REFERENCES = ("analytic", "gd")  # whose final train loss sets the loss targets: exact, then gd

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
                  help="Compare optimizers on NoProp and whole-network losses.")


def show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"optsuite {installed_version('optsuite')}")
        raise typer.Exit()


VERSION = typer.Option(False, "--version", callback=show_version, is_eager=True, help="print the version and exit")


def folder_path(text: str) -> Path:
    """An ``--out`` folder as typed; an empty one (which would mean the current folder) is refused."""
    if not text.strip():
        raise typer.BadParameter("an empty path names no folder (for the current folder, say '.')")
    return Path(text)


@app.callback()
def main_options(version: bool = VERSION) -> None:
    pass


@app.command("list")
def list_command(
    what: str = typer.Argument("all", metavar="WHAT", help="optimizers, problems, all, or a registered name: its settings"),
    version: bool = VERSION,
) -> None:
    """List the registered optimizers and problems.

    One line each; with a NAME, that optimizer's or problem's settings with their defaults and meaning.
    """
    registries = {"optimizers": OPTIMIZERS, "problems": PROBLEMS}
    if what not in (*registries, "all"):
        for line in entry_lines(what):
            typer.echo(line)
        return
    for name, registry in registries.items():
        if what in (name, "all"):
            typer.echo(f"{name}:")
            rows = registry.describe()
            width = max(len(n) for n, _ in rows)
            for n, desc in rows:
                typer.echo(f"  {n.ljust(width)}  {desc}")


def entry_lines(name: str) -> list[str]:
    """``optsuite list NAME``: what ``name`` is, then each hyperparameter or setting with its default and meaning."""
    registry = next((r for r in (OPTIMIZERS, PROBLEMS) if r.knows(name)), None)
    if registry is None:
        known = ["optimizers", "problems", "all", *OPTIMIZERS.names(), *PROBLEMS.names()]
        raise UserError(f"cannot list {name!r}{did_you_mean(name, known)}; choose optimizers, problems, all "
                        "or a registered name (optsuite list)")
    cls = registry.get(name)
    lines = [f"{name} ({registry.kind}): {first_line(cls)}"]
    if registry.kind == "optimizer":
        from .capabilities import CAPABILITIES

        budget = ",".join(f"{k}={v:g}" for k, v in cls.default_budget.as_dict().items())
        needs = [CAPABILITIES[c] for c in cls.requires]
        lines.append(f"default budget: {budget}" + (f"; needs a problem with {' and '.join(needs)}" if needs else ""))
    rows = [(key, "-" if default is inspect.Parameter.empty else repr(default), meaning)
            for key, default, meaning in registry.settings(name)]
    lines.append(("hyperparameters" if registry.kind == "optimizer" else "settings") + (":" if rows else ": none"))
    widths = [max((len(r[i]) for r in rows), default=0) for i in (0, 1)]
    lines += [f"  {key.ljust(widths[0])}  {default.ljust(widths[1])}  {meaning}".rstrip() for key, default, meaning in rows]
    return lines


@app.command("noprop")
def noprop_command(
    optimizer: str = typer.Option("gd", "--optimizer", "-o", metavar="SPEC", help="NAME or NAME(key=value,...) for every part; PART: NAME overrides one, e.g. 'cma + head: analytic'"),
    setting: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="noprop-dt setting KEY=VALUE (dataset, block, T, embedding, hidden, ridge, ...); repeatable"),
    budget: list[str] = typer.Option([], "--budget", "-b", metavar="UNIT=VALUE", help="UNIT=VALUE for the whole network, split over its parts; repeatable (default: each solver's own per part)"),
    seeds: int = typer.Option(1, "--seeds", "-s", metavar="N", help="run seeds 0..N-1"),
    jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", help="parts trained in parallel"),
    out: Optional[Path] = typer.Option(None, "--out", parser=folder_path, metavar="FOLDER", help="results store folder (default results/noprop-TIME)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    add: bool = typer.Option(False, "--add", help="write into a store that holds other cells too"),
    version: bool = VERSION,
) -> None:
    """Train a NoProp-DT network part by part.

    Trains the T blocks and the head, then prints the network's accuracy and total cost.

    A one-problem matrix of noprop-dt with a store: running the same command again resumes.
    """
    from optsuite.report.networks import seed_lines
    from optsuite.runners.execute import Backend, resume
    from optsuite.runners.matrix import RunSettings
    from optsuite.runners.sandbox import Job
    from optsuite.runners.spec import from_flags
    from optsuite.store import Store

    RunSettings().overridden({"jobs": jobs})
    settings = parse_pairs(setting, "--set")
    problem = f"noprop-dt({','.join(f'{k}={v!r}' for k, v in settings.items())})"
    spec = from_flags([problem], [optimizer], seeds, budget)
    store = Store(out or Path("results") / time.strftime("noprop-%Y%m%d-%H%M%S"))
    try:
        cells = resume(spec.cells, store, Job(part_jobs=jobs), Backend("loky", 1), mode="quiet" if quiet else "auto",
                       add=add)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished seeds are stored in {store.path}; run the same command to resume", err=True)
        raise typer.Abort() from None
    for line in seed_lines(cells):
        typer.echo(line)
    if not quiet:
        typer.echo(f"results: {store.path}", err=True)


@app.command("run")
def run_command(
    matrix: Optional[str] = typer.Argument(None, metavar="MATRIX", help="a matrix spec (TOML) file, or a packaged matrix: default, gpu"),
    problem: list[str] = typer.Option([], "--problem", "-p", metavar="SPEC", help="NAME or NAME(key=value,...); repeatable (default least-squares)"),
    optimizer: list[str] = typer.Option([], "--optimizer", "-o", metavar="SPEC", help="NAME or NAME(key=value,...); repeatable (default gd, montecarlo)"),
    seeds: Optional[int] = typer.Option(None, "--seeds", "-s", metavar="N", help="run seeds 0..N-1 (default 3)"),
    budget: list[str] = typer.Option([], "--budget", "-b", metavar="UNIT=VALUE", help="UNIT=VALUE, repeatable (default: each optimizer's)"),
    out: Optional[Path] = typer.Option(None, "--out", parser=folder_path, metavar="FOLDER", help="results store folder (default results/NAME of the matrix, or results/run-TIME)"),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", metavar="N", help="cells in parallel (default: the matrix's, else 1)"),
    backend: str = typer.Option("loky", "--backend", metavar="[loky|dask]", help="loky (this machine) or dask (a cluster)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS", help="Dask scheduler ADDRESS (default: a local cluster of -j workers)"),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", metavar="SECONDS", help="seconds per cell; an overrun is recorded as status timeout"),
    gpu_slots: Optional[int] = typer.Option(None, "--gpu-slots", metavar="N", help="concurrent cells per CUDA device and machine (default 1)"),
    batch_runs: Optional[int] = typer.Option(None, "--batch-runs", metavar="K", help="cells of one problem whose optimizers allow it run together, K at a time, sharing each step's evaluation (default 1: each alone)"),
    retry: bool = typer.Option(False, "--retry", help="run stored cells that failed or timed out again"),
    rerun_stale: bool = typer.Option(False, "--rerun-stale", help="run stored cells made by other code again"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the cells and their stored status; run nothing"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (for CI)"),
    add: bool = typer.Option(False, "--add", help="write into a store that holds another matrix's cells too"),
    wide: bool = typer.Option(False, "--wide", help="print the full tables at their own width, not the compact ones"),
    version: bool = VERSION,
) -> None:
    """Run a benchmark matrix and store its results.

    The matrix is a spec file or -p/-o/-s/-b flags; the comparison table is printed at the end.

    Running the same command again resumes: cells already in the store are skipped.
    """
    import pandas as pd

    from optsuite.report.results import Results
    from optsuite.runners.execute import Backend, foreign, known_cells, other_data, resume
    from optsuite.runners.sandbox import Job
    from optsuite.runners.matrix import listing
    from optsuite.runners.spec import from_flags, load_matrix
    from optsuite.store import Store

    if matrix and (problem or optimizer or seeds is not None or budget):
        raise UserError("give a matrix file or -p/-o/-s/-b flags, not both")
    if matrix:
        spec = load_matrix(matrix, local=backend != "dask" and not dry_run)
    else:
        spec = from_flags(problem or ["least-squares"], optimizer or ["gd", "montecarlo"], 3 if seeds is None else seeds,
                          budget)
    settings = spec.run.overridden({"jobs": jobs, "time_limit": time_limit, "gpu_slots": gpu_slots,
                                    "batch_runs": batch_runs})
    runner = Backend(backend, settings.jobs or 1, scheduler)
    limit, slots, together = settings.time_limit, settings.gpu_slots or 1, settings.batch_runs or 1
    default_out = Path("results") / (spec.name if matrix else time.strftime("run-%Y%m%d-%H%M%S"))
    store = Store(out or default_out)
    if dry_run:
        stored = store.verified_cells()
        if mixed := other_data(known_cells(spec.cells, spec.tunings, stored), stored):
            raise UserError(f"results store {store.path}: {mixed}")
        typer.echo("\n".join(listing(spec, stored)))
        others = foreign(known_cells(spec.cells, spec.tunings, stored), stored)
        if others:
            typer.echo(f"the store holds {others} cells that are not in this matrix: running it needs --add")
        return
    mode = "quiet" if quiet else "auto"
    try:
        cells = resume(spec.cells, store, Job(limit, None, spec.plugins, slots, batch_runs=together), runner, retry,
                       mode, rerun_stale, spec.tunings, add)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished cells are stored in {store.path}; run the same command to resume", err=True)
        raise typer.Abort() from None
    typer.echo(comparison(Results(cells, pd.DataFrame()), None, wide)[0])
    if not quiet:
        typer.echo(f"results: {store.path}", err=True)


def writable_folder(path: Path, what: str) -> None:
    """Make the folder ``path`` (and its parents); a path that is a file, or a folder this process cannot
    write, is a one-line UserError."""
    from optsuite.store import make_folder, why_not_writable

    try:
        make_folder(path)
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot make that folder ({why_not_writable(exc)})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path}: the folder is not writable")


def comparison(results, baseline: str | None, wide: bool = False) -> tuple[str, str | None, dict]:
    """The printed comparison of ``results`` (:func:`optsuite.report.builder.printed`: compact tables that fit
    the terminal, or with ``wide`` the full ones) as text, the baseline chosen (``baseline``, else
    :data:`DEFAULT_BASELINE` where the store has it) and the quality rows computed for it (once, for the
    tables and the report)."""
    from optsuite.report.builder import printed
    from optsuite.report.summary import quality_by_problem, resolve_baseline

    chosen = resolve_baseline(results, baseline, DEFAULT_BASELINE)
    rows = quality_by_problem(results, chosen)
    return "\n\n".join(printed(results, chosen, rows, wide)), chosen, rows


@app.command("report")
def report_command(
    results: Path = typer.Argument(..., metavar="STORE", help="a results store folder"),
    out: Optional[Path] = typer.Option(None, "--out", parser=folder_path, metavar="FOLDER", help="write tables (md, csv, tex, html) and figures here"),
    baseline: Optional[str] = typer.Option(None, "--baseline", metavar="LABEL", help=f"optimizer label for paired tests (default {DEFAULT_BASELINE} where the store has it)"),
    reference: list[str] = typer.Option([], "--reference", metavar="NAME", help=f"optimizer whose best final train loss sets the loss targets; repeatable, first present wins (default {' then '.join(DEFAULT_REFERENCES)})"),
    wide: bool = typer.Option(False, "--wide", help="print the full tables at their own width, not the compact ones"),
    version: bool = VERSION,
) -> None:
    """Print the comparison of a results store.

    With --out, also write the full report (report.html, tables, figures).
    """
    from optsuite.report import builder
    from optsuite.report.reach import check_references
    from optsuite.report.results import Results

    loaded = Results.load(results)
    check_references(loaded, reference)
    text, chosen, rows = comparison(loaded, baseline, wide)
    if out is not None:
        writable_folder(out, "--out")
    typer.echo(text)
    if out is not None:
        command = " ".join(["optsuite report", str(results), "--out", str(out)]
                           + (["--baseline", baseline] if baseline else []) + [f"--reference {r}" for r in reference])
        index = builder.write(loaded, out, chosen, reference or DEFAULT_REFERENCES, command, rows)
        typer.echo(f"report: {index[0]}", err=True)


@app.command("export")
def export_command(
    results: Path = typer.Argument(..., metavar="STORE", help="a results store folder"),
    fmt: str = typer.Option(..., "--format", metavar="[coco|ioh|csv]", help="coco (cocopp), ioh (IOHanalyzer, iohinspector) or csv (two long tables)"),
    out: Path = typer.Option(..., "--out", parser=folder_path, metavar="FOLDER", help="the folder to write into"),
    cost: str = typer.Option("sample_forwards", "--cost", metavar="[sample_forwards|evaluations]", help="the cost axis of coco and ioh: sample_forwards or evaluations"),
    reference: list[str] = typer.Option([], "--reference", metavar="NAME", help=f"as in optsuite report: whose best final train loss is a problem's reference in coco's f - Fopt (default {' then '.join(DEFAULT_REFERENCES)})"),
    version: bool = VERSION,
) -> None:
    """Export a results store for cocopp, IOHanalyzer or CSV.

    The formats of COCO's and IOHprofiler's tools, or two long CSV tables.
    """
    from optsuite.report.export import check, export
    from optsuite.report.reach import check_references
    from optsuite.report.results import Results

    check(fmt, cost)
    loaded = Results.load(results)
    check_references(loaded, reference)
    writable_folder(out, "--out")
    written = export(loaded, fmt, out, reference or DEFAULT_REFERENCES, cost)
    typer.echo(f"{len(written)} files in {out}", err=True)


@app.command("bench")
def bench_command(
    small: bool = typer.Option(False, "--small", help="CPU-friendly sizes that run in seconds"),
    device: Optional[str] = typer.Option(None, "--device", metavar="DEVICE", help="cpu or cuda (default: cuda when available)"),
    precision: str = typer.Option("float32", "--precision", metavar="[float32|tf32|bf16]", help="float32, tf32 or bf16"),
    steps: bool = typer.Option(True, "--steps/--no-steps", help="time the optimizers' own step per generation"),
    repeats: Optional[int] = typer.Option(None, "--repeats", metavar="N", help="timed samples per median"),
    threads: Optional[int] = typer.Option(None, "--threads", metavar="N", help="CPU threads for torch (default: torch's)"),
    kernel: str = typer.Option("auto", "--kernel", metavar="[auto|bmm|fused]", help="auto (fused on CUDA where it applies), bmm or fused"),
    version: bool = VERSION,
) -> None:
    """Time population evaluation and optimizer steps.

    Population evaluation speed against a loop and vmap, and the optimizers' own step time.
    """
    from optsuite.benchmarks.population_eval import benchmark

    for line in benchmark(small, device, precision, steps, repeats, threads, kernel):
        typer.echo(line)


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a run as Ctrl-C does: finished cells flushed to the store, workers ended."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with exit code 2 for bad input."""
    command = typer.main.get_command(app)
    terminate = signal.signal(signal.SIGTERM, interrupt) if threading.current_thread() is threading.main_thread() else None
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
    finally:
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)
    return code if isinstance(code, int) else 0  # typer.Exit(code) comes back as a return value


if __name__ == "__main__":
    sys.exit(main())
