"""cocopp reads a COCO export of a store as a suite of its own: our problem names, our cost unit, no BBOB.

The export (:mod:`.export_coco`) says ``suite = 'optsuite'`` and writes ``suite.json`` (each function
number's problem and dimension, and the cost unit). cocopp knows only COCO's suites, so before
``cocopp.main`` runs, :func:`register` adds a testbed for that suite to ``cocopp.testbedsettings``,
built from the export's ``suite.json``: the function titles are our problems, the cost axis is the
export's (sample-forwards or evaluations, not f-evaluations), only the exported functions and
dimensions are shown, and there is no BBOB reference algorithm to compare with::

    import cocopp
    from optsuite.report.cocopp_suite import register
    register("exports/sphere-coco")
    cocopp.main("-o ppdata exports/sphere-coco/gd exports/sphere-coco/montecarlo-population-32")
"""
from __future__ import annotations

import json
from pathlib import Path

SUITE = "optsuite"
SUITE_FILE = "suite.json"
UNITS = {"sample_forwards": ("sample-forwards", "SFs"), "evaluations": ("evaluations", "evals")}


def suite_json(functions: dict[int, tuple[str, int]], cost: str) -> str:
    """``suite.json``: function number -> (problem, dimension), and the cost unit."""
    return json.dumps({"suite": SUITE, "cost": cost,
                       "functions": {str(n): {"problem": p, "dim": d} for n, (p, d) in functions.items()}}, indent=1)


def register(export: str | Path):
    """Add the testbed of the COCO export folder ``export`` to cocopp (imported here); returns its class."""
    import cocopp.testbedsettings as testbeds

    described = json.loads((Path(export) / SUITE_FILE).read_text())
    functions = {int(n): f for n, f in described["functions"].items()}
    dims = sorted({f["dim"] for f in functions.values()})
    infos = Path(export) / "optsuite-benchmarkinfos.txt"
    infos.write_text("".join(f"{n} {f['problem']}\n" for n, f in sorted(functions.items())))
    long, short = UNITS[described["cost"]]
    base = testbeds.GECCOBBOBTestbed

    class OptsuiteTestbed(base):
        """The problems of an optsuite store (functions numbered as its export's problems.csv)."""

        settings = dict(base.settings, name=SUITE, info_filename=str(infos.resolve()),
                        short_names={n: f["problem"] for n, f in functions.items()},
                        dimensions_to_display=tuple(dims), goto_dimension=dims[-1], rldDimsOfInterest=tuple(dims),
                        tabDimsOfInterest=tuple(dims), functions_with_legend=(min(functions), max(functions)),
                        first_function_number=min(functions), last_function_number=max(functions),
                        reference_algorithm_filename="", reference_algorithm_displayname=None,
                        plots_on_main_html_page=[f"pprldmany_{d:02d}D_noiselessall.svg" for d in dims])
        dimsOfInterest = tuple(dims)

        def __init__(self, target_values):
            for key, value in OptsuiteTestbed.settings.items():
                setattr(self, key, value)
            self.instantiate_attributes(target_values)

        def filter(self, dsl):  # BBOB's joins bbob with bbob-largescale data; ours is one suite alone
            return dsl

        string_evals = property(lambda self: long)
        string_evals_short = property(lambda self: short)
        string_evals_legend = property(lambda self: f"# {long}")

    testbeds.OptsuiteTestbed = OptsuiteTestbed
    testbeds.suite_to_testbed[SUITE] = "OptsuiteTestbed"
    return OptsuiteTestbed
