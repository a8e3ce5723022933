"""What the report's figures draw: runs up to where they stopped, honest labels, visible lines, labelled bars."""

import numpy as np
import pandas as pd
import pytest

from optsuite.report import figures, noprop_figures
from optsuite.report.anytime import value_until_end
from optsuite.report.reach import reference
from optsuite.report.results import Results
from report_fixtures import cell, decaying, mixed_results, trace


def test_a_finished_run_is_read_only_up_to_its_last_row():
    rows = pd.DataFrame(trace("c", [10, 20, 30], [5.0, 3.0, 1.0]))
    got = value_until_end(rows, "sample_forwards", [5, 15, 30, 31, 100])
    assert np.isnan(got[0]) and list(got[1:3]) == [5.0, 1.0] and np.isnan(got[3:]).all()


def test_the_median_line_ends_where_the_runs_stopped_and_each_end_is_a_dot():
    fig, ax = figures.plt.subplots()
    runs = [pd.DataFrame(trace(f"c{i}", [10, 20, 30 + 10 * i], [5.0, 3.0, 1.0])) for i in range(3)]
    grid = np.geomspace(10, 1000, 50)
    figures.median_line(ax, grid, runs, "sample_forwards", "best_loss", "C0", "x")
    line, dots = ax.lines
    x, y = line.get_data()
    assert np.isfinite(y[x <= 30]).all() and np.isnan(y[x > 40]).all()  # two of three runs end by 40
    assert sorted(dots.get_xdata()) == [30, 40, 50]
    figures.plt.close(fig)


def test_the_loss_axis_says_minibatch_only_where_the_runs_sampled_minibatches():
    for sampled, label in ((None, "best loss so far"), (False, "best loss so far"), (True, "best minibatch loss so far")):
        results = mixed_results()
        if sampled is not None:
            results.cells["minibatch"] = sampled
        fig, ax = figures.plt.subplots()
        figures.anytime_panel(ax, results, results.cells_of("alpha"), "sample_forwards", figures.colours(["gd", "cma"]))
        assert ax.get_ylabel() == label
        figures.plt.close(fig)


def test_the_targets_of_a_problem_with_a_known_optimum_start_from_it():
    cells, traces = [], []
    for problem, loss in (("sphere", 0.5), ("toy", 0.5)):
        for seed in range(2):
            row = cell(problem, "gd", seed, train_loss=loss)
            cells.append(row)
            traces += decaying(row["cell_id"], 0.8)
    results = Results(pd.DataFrame(cells), pd.DataFrame(traces))
    sphere, toy = (reference(results, results.problems()[i], ("gd",)) for i in (0, 1))
    assert (sphere.loss, sphere.source) == (0.0, "the known optimum")
    assert (toy.loss, toy.source) == (0.5, "best final gd train loss")
    assert "0 (the known optimum)" in figures.ecdf_caption("sphere", sphere)


def test_lines_that_stay_at_zero_share_it_in_dashes_that_take_turns():
    fig, ax = figures.plt.subplots()
    grid = np.arange(5.0)
    curves = {"a": np.zeros(5), "b": np.linspace(0, 1, 5), "c": np.zeros(5), "d": np.zeros(5)}
    figures.step_lines(ax, grid, curves, figures.colours(list(curves)), {e: e for e in curves})
    styles = {line.get_label(): line for line in ax.lines}
    assert styles["b"].get_linestyle() == "-"
    dashes = [styles[e]._unscaled_dash_pattern for e in "acd"]  # (offset, (on, off))
    period = sum(dashes[0][1])
    covered = sorted((offset % period, offset % period + on) for offset, (on, _) in dashes)
    assert covered[0][0] == 0 and all(a[1] == b[0] for a, b in zip(covered, covered[1:])) and covered[-1][1] == period
    assert all(styles[e].get_zorder() > styles["b"].get_zorder() for e in "acd")
    figures.plt.close(fig)


def blocks_store(network_forwards):
    """noprop blocks and networks, each network's runs spending ``network_forwards`` sample-forwards."""
    cells, traces = [], []
    for label in ("gd", "cma"):
        for seed in range(3):
            for t in (1, 2):
                cells.append(cell("noprop-block", label, seed, args={"t": t}, test_loss=0.1 * t, train_loss=0.1 * t))
                cells[-1]["spent_sample_forwards"] = network_forwards / 2
            for net in ("noprop-net", "backprop-net"):
                cells.append(cell(net, label, seed, test_accuracy=0.8 + 0.01 * seed, test_loss=0.5))
                cells[-1]["spent_sample_forwards"] = network_forwards * (2 if net == "noprop-net" and label == "gd" else 1)
    for row in cells:
        traces += decaying(row["cell_id"], 0.7)
    return Results(pd.DataFrame(cells), pd.DataFrame(traces))


def drawn_panels(results, monkeypatch, tmp_path):
    saved = []
    monkeypatch.setattr(noprop_figures, "save", lambda fig, folder, name: saved.append(fig) or [])
    noprop_figures.blocks_figure(results, figures.colours(["gd", "cma"]), tmp_path)
    return saved[0].axes


def test_every_bar_of_the_blocks_figure_is_labelled_with_its_optimizer_and_value(monkeypatch, tmp_path):
    axes = drawn_panels(blocks_store(1000.0), monkeypatch, tmp_path)
    for ax, groups in zip(axes[1:], (2, 3)):  # accuracy: 2 networks; cost: 1 block family and 2 networks
        bars = ax.patches
        assert len(bars) == 2 * groups
        assert sorted(t.get_text() for t in ax.get_xticklabels()) == ["cma"] * groups + ["gd"] * groups
        values = [t.get_text() for t in ax.texts if t.get_text() and t.get_text()[0].isdigit()]
        assert len(values) == len(bars)


def test_the_cost_panel_is_left_out_when_every_cost_is_the_same(monkeypatch, tmp_path):
    varied = blocks_store(1000.0)
    equal = blocks_store(1000.0)
    equal.cells["spent_sample_forwards"] = np.where(equal.cells["problem"] == "noprop-block", 500.0, 1000.0)
    assert len(drawn_panels(varied, monkeypatch, tmp_path)) == 3
    panels = drawn_panels(equal, monkeypatch, tmp_path)
    assert len(panels) == 2 and "1000 sample-forwards" in panels[0].figure.get_supxlabel()


def test_a_cell_row_says_whether_its_trace_losses_are_minibatch_losses():
    from optsuite.budget import Budget
    from optsuite.runners.cell import Cell, result_rows

    budget = Budget.parse({"steps": 3})
    rows = {name: result_rows(Cell(name, "gd", 0, budget, args))[0]
            for name, args in (("sphere", {"dim": 3}), ("least-squares", {"batch_size": 16}))}
    assert rows["sphere"]["status"] == rows["least-squares"]["status"] == "ok"
    assert rows["sphere"]["minibatch"] is False and rows["least-squares"]["minibatch"] is True


@pytest.mark.slow
def test_a_dollar_in_a_problem_key_or_a_label_is_drawn_as_written(tmp_path):
    """A data_root like ``d$_$x`` or a plug-in's string value reads as mathtext to matplotlib; figures draw it as text."""
    from optsuite.report import builder
    from report_fixtures import ranked_results

    ranked = ranked_results(problems=4, seeds=2, extra=False, network=True)
    cells = ranked.cells.drop(columns=["problem_key", "entry"])
    cells = cells.assign(problem_args='{"data_root": "d$_$x"}', label=cells["label"] + "$^$")
    blocks, traces = [], []
    for label in ("a$^$", "b$^$"):
        for seed in range(3):
            for t in (1, 2):
                blocks.append(cell("noprop-block", label, seed, args={"t": t, "data_root": "d$_$x"}, test_loss=0.1 * t))
                traces += decaying(blocks[-1]["cell_id"], 0.7)
            blocks.append(cell("noprop-net", label, seed, args={"data_root": "d$_$x"}, test_accuracy=0.8, test_loss=0.5))
            traces += decaying(blocks[-1]["cell_id"], 0.7)
    results = Results(pd.concat([cells, pd.DataFrame(blocks)], ignore_index=True),
                      pd.concat([ranked.traces, pd.DataFrame(traces)], ignore_index=True))
    builder.write(results, tmp_path, None, ("gd",), "CMD")
    drawn = {p.stem.split("-p0")[0].split("-noprop")[0]: p.read_text() for p in (tmp_path / "figures").glob("*.svg")}
    assert {"anytime", "ecdf", "accuracy", "critical-difference", "performance-profile", "blocks-vs-network-digits"} \
        <= set(drawn)
    for name in ("critical-difference", "performance-profile", "blocks-vs-network-digits"):
        assert "a$^$" in drawn[name], name
    assert "d$_$x" in drawn["anytime"] and "d$_$x" in drawn["blocks-vs-network-digits"]


def test_colour_by_family_and_line_style_by_budget():
    from report_fixtures import budget_results

    results = budget_results()
    palette = figures.colours(results.entries(), figures.families(results))
    entries = results.entries()
    gd = [e for e in entries if e.startswith("gd(")]
    assert len(gd) == 2 and palette[gd[0]] == palette[gd[1]]  # one label at two budgets: one colour
    assert len({palette[e] for e in entries}) == len({e.split(" @ ")[0] for e in entries})
    styles = figures.budget_styles(results)
    small, large = sorted(gd, key=lambda e: "3.2e+07" in e)
    assert styles[small] == "-" and styles[large] == "--"
    shades = figures.colours(["cma(a)", "cma(b)", "snes"], {"cma(a)": "cma", "cma(b)": "cma", "snes": "snes"})
    assert shades["cma(a)"] != shades["cma(b)"] and shades["cma(b)"][:3] >= shades["cma(a)"][:3]  # lighter, same hue
