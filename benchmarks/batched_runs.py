"""Cells per hour of a matrix with its runs batched together (``--batch-runs K``) and without.

    .venv/bin/python -m optsuite.benchmarks.batched_runs [--device cuda] [--batch-runs 8] [--rounds 2]

The matrix: population optimizers (snes, pgpe, openes, separable torch-cma at their
default populations, and snes at 256) on a NoProp block and the whole network of the
default matrix's shapes (digits, T = 3, hidden 16), 4 seeds, a budget in evaluations.
Each round runs it once alone and once batched, into fresh stores (-j 1, so the
difference is the batching alone), the two taking turns; the stored numbers of the two
are checked equal. Prints wall seconds, cells per hour and their ratio per round.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from optsuite.cli import main as cli
from optsuite.store import Store

OPTIMIZERS = ["snes(sigma0=0.05)", "pgpe(sigma0=0.05)", "openes(sigma0=0.02)", "torch-cma(separable=true,sigma0=0.05)",
              "snes(sigma0=0.05,population=256)"]
PROBLEMS = ["noprop-block(T=3,t=2,hidden=16{device})", "noprop-net(T=3,hidden=16{device})"]
COMPARED = ("metric_train_loss", "spent_evaluations", "spent_sample_forwards", "status")


def run_matrix(out: Path, device: str, batch_runs: int, evaluations: int, seeds: int) -> float:
    """Wall seconds of one run of the matrix into ``out``."""
    flags = [f for p in PROBLEMS for f in ("-p", p.format(device=f",device={device}" if device != "cpu" else ""))]
    flags += [f for o in OPTIMIZERS for f in ("-o", o)]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the run's own tables; this prints its figures only
        code = cli(["run", *flags, "-s", str(seeds), "-b", f"evaluations={evaluations}", "-j", "1", "-q",
                    "--batch-runs", str(batch_runs), "--out", str(out)])
    if code != 0:
        raise SystemExit(f"the matrix run failed with exit code {code}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-runs", type=int, default=8)
    parser.add_argument("--evaluations", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cells = len(PROBLEMS) * len(OPTIMIZERS) * args.seeds
    print(f"{cells} cells, {args.evaluations} evaluations each, device {args.device}, batches of {args.batch_runs}")
    print("| round | alone s | batched s | alone cells/h | batched cells/h | batched / alone |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            order = [1, args.batch_runs] if k % 2 == 0 else [args.batch_runs, 1]
            walls = {size: run_matrix(Path(tmp) / f"r{k}-{size}", args.device, size, args.evaluations, args.seeds)
                     for size in order}
            stores = [Store(Path(tmp) / f"r{k}-{size}").cells().set_index("cell_id").sort_index() for size in (1, args.batch_runs)]
            if not stores[0][list(COMPARED)].equals(stores[1][list(COMPARED)]):
                raise SystemExit("the batched run stored other numbers than the run alone")
            alone, batched = walls[1], walls[args.batch_runs]
            print(f"| {k + 1} | {alone:.1f} | {batched:.1f} | {3600 * cells / alone:.0f} | {3600 * cells / batched:.0f} "
                  f"| {alone / batched:.2f} |", flush=True)


if __name__ == "__main__":
    main()
