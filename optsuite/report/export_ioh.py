"""A store in IOHprofiler's format, which IOHanalyzer and iohinspector read: one folder per optimizer entry.

Per entry folder ``<entry>/`` and problem number ``f`` named ``n`` (the problem key as a file
name), the layout of ``ioh.logger.Analyzer``:

- ``IOHprofiler_f{f}_{n}.json``: the function, the algorithm (the entry's label), the attributes
  ``evaluations raw_y``, and one scenario (the problem's dimension) listing every run: its
  instance (seed + 1), its total cost and its best loss with the cost where it was reached;
- ``data_f{f}_{n}/IOHprofiler_f{f}_DIM{d}.dat``: per run the line ``evaluations raw_y``, then
  the rows where the best loss improved and the last row, ``raw_y`` the best loss itself
  (minimization, no reference subtracted). The format starts every run at evaluation 1
  (iohinspector splits the runs there), so a run whose first trace row costs more than 1
  gets a first line at 1 with that row's loss: the start, not a loss reached at cost 1.

``evaluations`` is the export's cost axis (sample-forwards or evaluations). Runs without a
trace are left out.
"""
from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from .export_problems import Numbered
from .export_coco import improved
from .output_folder import folders
from .results import Results, slug



def run_record(instance: int, trace, cost: str) -> dict:
    best = trace.loc[trace["best_loss"].idxmin()]
    return {"instance": instance, "evals": int(trace[cost].iloc[-1]),
            "best": {"evals": int(best[cost]), "y": float(best["best_loss"]), "x": []}}  # positions are not stored


def dat_lines(trace, cost: str) -> str:
    """One run's lines: the header, then ``evaluations raw_y`` at 1 and where the best loss improved."""
    rows = improved(trace)
    costs, best = rows[cost].astype(int).tolist(), rows["best_loss"].tolist()
    if costs[0] > 1:
        costs, best = [1] + costs, best[:1] + best
    return "evaluations raw_y\n" + "".join(f"{c} {b:.10e}\n" for c, b in zip(costs, best))


def write_problem(results: Results, entry: str, problem: Numbered, folder: Path, cost: str) -> list[Path]:
    """The entry's JSON and ``.dat`` of one problem; none where no run of it has a trace."""
    cells = results.cells_of(problem.key)
    runs = [(int(c["seed"]) + 1, results.trace(c["cell_id"])) for _, c in cells[cells["entry"] == entry].iterrows()]
    runs = sorted(((i, t.reset_index(drop=True)) for i, t in runs if len(t)), key=lambda r: r[0])
    if not runs:
        return []
    name = f"f{problem.number}_{slug(problem.key)}"
    data = f"data_{name}/IOHprofiler_f{problem.number}_DIM{problem.dim}.dat"
    (folder / f"data_{name}").mkdir(parents=True, exist_ok=True)
    (folder / data).write_text("".join(dat_lines(t, cost) for _, t in runs))
    meta = {"version": version("optsuite"), "suite": "optsuite", "function_id": problem.number, "function_name": slug(problem.key),
            "maximization": False, "algorithm": {"name": entry, "info": f"optsuite problem {problem.key}; cost: {cost}"},
            "attributes": ["evaluations", "raw_y"],
            "scenarios": [{"dimension": problem.dim, "path": data, "runs": [run_record(i, t, cost) for i, t in runs]}]}
    path = folder / f"IOHprofiler_{name}.json"
    path.write_text(json.dumps(meta, indent=1))
    return [path, folder / data]


def write(results: Results, problems: list[Numbered], out: Path, cost: str) -> list[Path]:
    """Every entry's folder under ``out``; returns the files written."""
    return [path for entry, folder in folders(out, results.entries()).items() for p in problems
            for path in write_problem(results, entry, p, folder, cost)]
