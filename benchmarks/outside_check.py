"""Ours against implementations written elsewhere (evosax, EvoTorch, pypop7, EGGROLL's reference) on the same functions and draws.

    OMP_NUM_THREADS=1 .venv/bin/python -m optsuite.benchmarks.outside_check --out reports/outside_check.md
    ... --hyperscalees PATH/HyperscaleES/src/hyperscalees   # also eggroll against the reference's own noiser

Each outside optimizer runs behind the Optimizer interface (one ``problem.evaluate`` per
generation, or per candidate for pypop7), so both sides go through the same
:func:`optsuite.targets.run_to_targets`: the same start point ``problem.initial(seed)``,
the same draws ``problem.draw(step, seed)`` (the NoProp block's minibatches and
noise), the same ledger, hits counted in whole generations. Both sides get the same
population (our default for the dimension, made even for mirrored sampling) and the
same settings, listed in :data:`SETTINGS`. Targets are fractions of the start loss.

The outside libraries are not dependencies of optsuite: install them into the
benchmark's environment (``pip install evosax "jax[cpu]"``; ``pip install --no-deps
evotorch`` plus ray and gymnasium, which it imports; ``pip install pypop7``). A missing
library skips its rows; with none installed the script says so and exits. EGGROLL's reference
(ESHyperscale/HyperscaleES, JAX) is no package: ``--hyperscalees`` names the ``src/hyperscalees``
folder of a checkout of it (with ``jax`` and ``optax`` installed), whose ``noiser/eggroll.py`` and
``models/common.py`` are imported from there; its eggroll rows run on matrix-shaped sphere and
ellipsoid (``sphere(dim=400,rows=20)``), every candidate's matrix drawn by the reference's own
``get_lora_update_params`` and the mean moved by its own ``convert_fitnesses`` and ``do_updates``.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import logging
import math
import os
import platform
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from optsuite.benchmarks import command_line
from optsuite.crn import derive_seed
from optsuite.optimizer import Optimizer, StepInfo
from optsuite.optimizers._es import even_population_size, population_size
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.targets import run_to_targets

LIBRARIES = ("evosax", "evotorch", "pypop7")
HYPERSCALEES: list[Path] = []  # the reference's folder, where --hyperscalees names one
SYNTHETIC_TARGETS = [1e-1, 1e-3, 1e-6, 1e-9]  # fractions of the start loss
NOPROP_TARGETS = [0.5, 0.2, 0.1]
NOPROP = {"T": 3, "t": 2, "block": "mlp", "hidden": 16, "dataset": "digits"}


@dataclass(frozen=True)
class Case:
    """One problem: registry name and settings, the label in the table, the search scale, the budget per dimension."""

    label: str
    problem: str
    settings: dict
    sigma0: float
    targets: list[float]
    budget: int


FUNCTIONS = ("sphere", "ellipsoid", "rosenbrock", "noprop-block")
MATRIX_ROWS = 20  # the matrix-shaped functions: 20 x 20
MATRIX_TARGETS = [1e-1, 1e-2, 1e-3]  # eggroll's sigma is fixed: it stalls where sigma's noise dominates


def cases(functions: list[str], dims: list[int], budget_per_dim: int, noprop_budget: int) -> list[Case]:
    """The functions in each of ``dims``, then the NoProp block (its own dimension) if asked for, then the
    matrix-shaped sphere and ellipsoid (for eggroll)."""
    synthetic = [Case(f"{f} {d}", f, {"dim": d}, 0.5, SYNTHETIC_TARGETS, budget_per_dim * d)
                 for f in functions if f != "noprop-block" for d in dims]
    noprop = [Case("noprop-block", "noprop-block", NOPROP, 0.05, NOPROP_TARGETS, noprop_budget)]
    n = MATRIX_ROWS * MATRIX_ROWS
    matrices = [Case(f"{f} {MATRIX_ROWS}x{MATRIX_ROWS}", f, {"dim": n, "rows": MATRIX_ROWS}, 0.05, MATRIX_TARGETS,
                     budget_per_dim * n // 10) for f in functions if f in ("sphere", "ellipsoid")]
    return synthetic + (noprop if "noprop-block" in functions else []) + matrices


# -- the settings both sides share -----------------------------------------------------------------------
def pgpe_settings(n: int, sigma0: float) -> dict:
    """PGPE: even population, ClipUp speeds from our rules of thumb, std lr 0.1, max change 0.2."""
    center_lr, max_speed = OPTIMIZERS.create("pgpe", sigma0=sigma0).speeds(n)
    return {"population": even_population_size(n, 0), "sigma0": sigma0, "center_lr": center_lr,
            "max_speed": max_speed}


SETTINGS: dict[str, Callable[[int, float], dict]] = {
    "pgpe": pgpe_settings,
    # the paper code's sigma 0.02 and Adam step 0.01; no weight decay (evosax's default has none)
    "openes": lambda n, s: {"population": even_population_size(n, 0), "sigma0": 0.02, "lr": 0.01,
                            "weight_decay": 0.0},
    "snes": lambda n, s: {"population": population_size(n, 0), "sigma0": s},
    "lm-ma-es": lambda n, s: {"population": population_size(n, 0), "sigma0": s},
    "torch-cma": lambda n, s: {"population": population_size(n, 0), "sigma0": s},
    "torch-cma-sep": lambda n, s: {"population": population_size(n, 0), "sigma0": s, "separable": True},
    # rank 1, our defaults (Adam, lr 0.01) and a population of 64 on both sides
    "eggroll": lambda n, s: {"population": 64, "sigma0": s, "lr": 0.01, "rank": 1},
}
MATRIX_ONLY = {"eggroll"}  # rows of these run on the matrix-shaped cases only, and only they do


# -- outside implementations behind the Optimizer interface ------------------------------------------
class Evosax(Optimizer):
    """evosax's counterpart of our ``name``: ask, one ``problem.evaluate``, tell; ``best()`` is its mean."""

    def __init__(self, name: str, settings: dict) -> None:
        super().__init__()
        self.ours, self.s = name, settings

    def init(self, problem, seed: int) -> None:
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.like = jax, jnp, problem.initial(seed)
        self.es, self.params = evosax_algorithm(self.ours, tuple(sorted(self.s.items())), problem.dim)
        self.key = jax.random.key(derive_seed(seed, "evosax") % 2**32)
        self.state = self.es.init(self.key, jnp.asarray(self.like.detach().cpu().double().numpy()), self.params)

    def step(self, problem, draw) -> StepInfo:
        self.key, ask, tell = self.jax.random.split(self.key, 3)
        population, self.state = self.es.ask(ask, self.state, self.params)
        losses = problem.evaluate(torch.as_tensor(np.array(population)).to(self.like), draw)
        self.state, _ = self.es.tell(tell, population, self.jnp.asarray(losses.double().cpu().numpy()), self.state,
                                     self.params)
        return StepInfo(float(losses.min()))

    def best(self) -> torch.Tensor:
        return torch.as_tensor(np.array(self.state.mean)).to(self.like)


EVOSAX_NAMES = {"pgpe": "PGPE", "openes": "Open_ES", "snes": "SNES", "lm-ma-es": "LM_MA_ES", "torch-cma": "CMA_ES",
                "torch-cma-sep": "Sep_CMA_ES"}


@functools.cache
def evosax_algorithm(name: str, settings: tuple, n: int) -> tuple:
    """(algorithm, params) of evosax's counterpart of our ``name`` in dimension ``n``.

    Cached, so that its jitted ask and tell compile once per setting rather than once per run.
    """
    import jax.numpy as jnp
    import optax
    from evosax import algorithms
    from evosax.core.optimizer import clipup

    s, cls = dict(settings), getattr(algorithms, EVOSAX_NAMES[name])
    if name == "pgpe":
        es = cls(s["population"], jnp.zeros(n), optimizer=clipup(learning_rate=s["center_lr"],
                                                                   max_velocity=s["max_speed"]))
    elif name == "openes":
        es = cls(s["population"], jnp.zeros(n), optimizer=optax.adam(s["lr"]),
                 std_schedule=optax.constant_schedule(s["sigma0"]))
        return es, es.default_params
    else:
        es = cls(s["population"], jnp.zeros(n))
    return es, es.default_params.replace(std_init=s["sigma0"])


class EvoTorchPGPE(Optimizer):
    """EvoTorch's PGPE class (symmetric, centred ranks, ClipUp) on a vectorised EvoTorch Problem."""

    def __init__(self, settings: dict) -> None:
        super().__init__()
        self.s = settings

    def init(self, problem, seed: int) -> None:
        import evotorch
        from evotorch.algorithms import PGPE

        self.draw = None
        x0 = problem.initial(seed).detach().clone()
        objective = lambda x: problem.evaluate(x.to(problem.dtype), self.draw)
        target = evotorch.Problem("min", objective, solution_length=problem.dim, vectorized=True, dtype=x0.dtype,
                                  initial_bounds=(-1.0, 1.0), seed=derive_seed(seed, "evotorch") % 2**32)
        s = self.s
        self.searcher = PGPE(target, popsize=s["population"], center_learning_rate=s["center_lr"],
                             stdev_learning_rate=0.1, stdev_init=s["sigma0"], center_init=x0,
                             optimizer="clipup", optimizer_config={"max_speed": s["max_speed"], "momentum": 0.9},
                             stdev_max_change=0.2)

    def step(self, problem, draw) -> StepInfo:
        self.draw = draw
        self.searcher.step()
        return StepInfo(float(self.searcher.population.evals.min()))

    def best(self) -> torch.Tensor:
        return self.searcher.status["center"].clone()


class Pypop7LMMAES(Optimizer):
    """pypop7's LMMAES driven one generation per step (its initialize / iterate / _update_distribution)."""

    def __init__(self, settings: dict) -> None:
        super().__init__()
        self.s = settings

    def init(self, problem, seed: int) -> None:
        from pypop7.optimizers.core.optimizer import Optimizer as Pypop7Optimizer
        from pypop7.optimizers.es.lmmaes import LMMAES

        n, self.current, self.like = problem.dim, None, problem.initial(seed)

        def fitness(x: np.ndarray) -> float:
            metered, draw = self.current
            return float(metered.evaluate(torch.as_tensor(x).to(self.like)[None], draw)[0])

        bounds = {"lower_boundary": -5 * np.ones(n), "upper_boundary": 5 * np.ones(n)}
        options = {"max_function_evaluations": np.inf, "seed_rng": derive_seed(seed, "pypop7") % 2**32,
                   "mean": problem.initial(seed).detach().cpu().double().numpy(), "sigma": self.s["sigma0"],
                   "n_individuals": self.s["population"], "verbose": False, "is_restart": False}
        self.es = LMMAES({"fitness_function": fitness, "ndim_problem": n, **bounds}, options)
        Pypop7Optimizer.optimize(self.es, fitness)  # the base class's: starts its clock, returns at once
        self.z, self.d, self.mean, self.path, self.M, self.y = self.es.initialize()

    def step(self, problem, draw) -> StepInfo:
        self.current = (problem, draw)
        self.z, self.d, self.y = self.es.iterate(self.z, self.d, self.mean, self.M, self.y)
        self.es._n_generations += 1
        self.mean, self.path, self.M = self.es._update_distribution(self.z, self.d, self.mean, self.path, self.M,
                                                                    self.y)
        return StepInfo(float(np.min(self.y)))

    def best(self) -> torch.Tensor:
        return torch.as_tensor(self.mean).to(self.like)


class HyperscaleEggroll(Optimizer):
    """The reference's own EGGROLL (``EggRoll`` of ``noiser/eggroll.py``) on the problem's parameter layout: each
    matrix an ``MM_PARAM``, the other entries one ``PARAM`` vector; Adam as optax's ``adam(lr)``, fresh noise each
    generation (``noise_reuse=1``)."""

    def __init__(self, settings: dict) -> None:
        super().__init__()
        self.s = settings

    def init(self, problem, seed: int) -> None:
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.jnp = jax, jnp
        self.eggroll, common = hyperscalees()
        self.like, self.layout = problem.initial(seed), problem.parameter_layout()
        start = self.like.detach().cpu().double().numpy()
        self.params = {f"w{k}": jnp.asarray(start[m.offset : m.end].reshape(m.rows, m.cols))
                       for k, m in enumerate(self.layout.matrices)}
        self.es_map = {k: common.MM_PARAM for k in self.params}
        if self.layout.rest.numel():
            self.params["rest"], self.es_map["rest"] = jnp.asarray(start[self.layout.rest.numpy()]), common.PARAM
        keys = common.simple_es_tree_key(self.params, jax.random.key(derive_seed(seed, "hyperscalees") % 2**32),
                                         {k: () for k in self.params})
        self.keys, s = keys, self.s
        self.frozen, self.noiser = self.eggroll.EggRoll.init_noiser(self.params, s["sigma0"], s["lr"], solver=optax.adam,
                                                                     rank=s["rank"], noise_reuse=1)
        self.epoch = 0

    def step(self, problem, draw) -> StepInfo:
        jax, jnp, egg = self.jax, self.jnp, self.eggroll
        P, sigma = self.s["population"], self.s["sigma0"]
        info = (jnp.full(P, self.epoch, dtype=jnp.int32), jnp.arange(P))
        candidates = np.empty((P, self.like.numel()))
        for k, m in enumerate(self.layout.matrices):
            name = f"w{k}"
            a, b = jax.vmap(lambda i: egg.get_lora_update_params(self.frozen, sigma / math.sqrt(self.s["rank"]), i,
                                                                 self.params[name], self.keys[name]))(info)
            candidates[:, m.offset : m.end] = np.asarray(self.params[name] + a @ jnp.swapaxes(b, 1, 2)).reshape(P, -1)
        if "rest" in self.params:
            noise = jax.vmap(lambda i: egg.get_nonlora_update_params(self.frozen, sigma, i, self.params["rest"],
                                                                     self.keys["rest"]))(info)
            candidates[:, self.layout.rest.numpy()] = np.asarray(self.params["rest"] + noise)
        losses = problem.evaluate(torch.as_tensor(candidates).to(self.like), draw)
        fitness = egg.EggRoll.convert_fitnesses(self.frozen, self.noiser, -jnp.asarray(losses.double().cpu().numpy()))
        with contextlib.redirect_stdout(io.StringIO()):  # the reference prints the shapes of every update
            self.noiser, self.params = egg.EggRoll.do_updates(self.frozen, self.noiser, self.params, self.keys, fitness,
                                                              info, self.es_map)
        self.epoch += 1
        return StepInfo(float(losses.min()))

    def best(self) -> torch.Tensor:
        out = np.empty(self.like.numel())
        for k, m in enumerate(self.layout.matrices):
            out[m.offset : m.end] = np.asarray(self.params[f"w{k}"]).reshape(-1)
        if "rest" in self.params:
            out[self.layout.rest.numpy()] = np.asarray(self.params["rest"])
        return torch.as_tensor(out).to(self.like)


@functools.cache
def hyperscalees() -> tuple:
    """The reference's ``noiser.eggroll`` and ``models.common`` modules, imported from the folder ``--hyperscalees``
    named without its package's ``__init__`` (which imports the reference's environments and tokenizers)."""
    folder = HYPERSCALEES[0]
    for package, sub in (("hyperscalees_noiser", "noiser"), ("hyperscalees_models", "models")):
        module = types.ModuleType(package)
        module.__path__ = [str(folder / sub)]
        sys.modules[package] = module
    return importlib.import_module("hyperscalees_noiser.eggroll"), importlib.import_module("hyperscalees_models.common")


def references(available: set[str]) -> list[tuple[str, str, Callable[[dict], Optimizer]]]:
    """(our optimizer, reference label, shared settings -> reference optimizer) for the installed libraries."""
    rows = []
    if "evosax" in available:
        rows += [(ours, f"evosax {name}", lambda settings, o=ours: Evosax(o, settings))
                 for ours, name in EVOSAX_NAMES.items()]
    if "evotorch" in available:
        rows.append(("pgpe", "EvoTorch PGPE", EvoTorchPGPE))
    if "pypop7" in available:
        rows.append(("lm-ma-es", "pypop7 LMMAES", Pypop7LMMAES))
    if "hyperscalees" in available:
        rows.append(("eggroll", "HyperscaleES EggRoll", HyperscaleEggroll))
    order = list(SETTINGS)
    return sorted(rows, key=lambda r: order.index(r[0]))


def ours(name: str, settings: dict) -> Optimizer:
    registered = "torch-cma" if name == "torch-cma-sep" else name
    return OPTIMIZERS.create(registered, **settings)


def installed() -> set[str]:
    """The outside libraries importable here, with JAX on one CPU thread in float64."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    found = set()
    for library in LIBRARIES:
        try:
            importlib.import_module(library)
            found.add(library)
        except ImportError:
            pass
    if HYPERSCALEES:
        try:
            importlib.import_module("optax")
            hyperscalees()
            found.add("hyperscalees")
        except ImportError:
            pass
    if "evosax" in found or "hyperscalees" in found:
        import jax

        jax.config.update("jax_enable_x64", True)
    logging.getLogger("evotorch").setLevel(logging.WARNING)  # it announces every Problem it builds
    return found


# -- measuring and reporting ---------------------------------------------------------------------------
def hits(case: Case, make: Callable[[], Optimizer], seeds: list[int]) -> list[list[float]]:
    """Evaluations ``[seeds][targets]`` to reach each target of ``case`` (inf: missed)."""
    rows = []
    for seed in seeds:
        problem = PROBLEMS.create(case.problem, **case.settings)
        start = float(problem.evaluate(problem.initial(seed)[None], problem.draw(0, seed))[0])
        result = run_to_targets(problem, make(), seed, [start * t for t in case.targets], case.budget)
        if result.status != "ok":
            raise RuntimeError(f"{case.label}, seed {seed}: {result.error}")
        rows.append(result.hits)
    return rows


def median_hit(rows: list[list[float]], k: int) -> float:
    return statistics.median(r[k] for r in rows)


def cell(rows: list[list[float]], k: int) -> str:
    finite = sum(math.isfinite(r[k]) for r in rows)
    value = median_hit(rows, k)
    text = "-" if math.isinf(value) else f"{value:.3g}"
    return text if finite == len(rows) else f"{text} ({finite}/{len(rows)})"


def measure(args, available: set[str]) -> tuple[list[str], list[dict]]:
    """Run every comparison; the markdown rows and the raw results."""
    results = []
    for case in cases(args.functions, args.dims, args.budget_per_dim, args.noprop_budget):
        dim = PROBLEMS.create(case.problem, **case.settings).dim
        for name, reference, make_reference in references(available):
            if name not in args.optimizers or name == "torch-cma" and dim > args.max_full_dim:
                continue
            if (name in MATRIX_ONLY) != ("rows" in case.settings):
                continue
            settings = SETTINGS[name](dim, case.sigma0)
            started = time.perf_counter()
            mine = hits(case, lambda: ours(name, settings), args.seeds)
            theirs = hits(case, lambda: make_reference(settings), args.seeds)
            results.append({"case": case, "ours": name, "reference": reference, "mine": mine, "theirs": theirs})
            print(f"{case.label} {name} vs {reference}: {time.perf_counter() - started:.0f} s", file=sys.stderr,
                  flush=True)
    return table(results), results


def table(results: list[dict]) -> list[str]:
    lines = ["| problem | ours | reference | target (x start loss) | ours: evaluations | reference: evaluations "
             "| ours / reference |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for k, target in enumerate(r["case"].targets):
            a, b = median_hit(r["mine"], k), median_hit(r["theirs"], k)
            ratio = f"{a / b:.2f}" if math.isfinite(a) and math.isfinite(b) else "-"
            lines.append(f"| {r['case'].label} | {r['ours']} | {r['reference']} | {target:g} | {cell(r['mine'], k)} "
                         f"| {cell(r['theirs'], k)} | {ratio} |")
    return lines


def summary(results: list[dict]) -> list[str]:
    """Per comparison: the median ratio over the targets both reached, and where it exceeds 1.5."""
    lines = ["| ours | reference | median ratio (targets both reach) | ratio > 1.5 at |", "|---|---|---|---|"]
    pairs = dict.fromkeys((r["ours"], r["reference"]) for r in results)
    for ours_name, reference in pairs:
        ratios, over = [], []
        for r in results:
            if (r["ours"], r["reference"]) != (ours_name, reference):
                continue
            for k, target in enumerate(r["case"].targets):
                a, b = median_hit(r["mine"], k), median_hit(r["theirs"], k)
                if math.isfinite(a) and math.isfinite(b):
                    ratios.append(a / b)
                    if a / b > 1.5:
                        over.append(f"{r['case'].label} @ {target:g}")
        median = f"{statistics.median(ratios):.2f} ({len(ratios)})" if ratios else "-"
        lines.append(f"| {ours_name} | {reference} | {median} | {', '.join(over) or 'nowhere'} |")
    return lines


def versions(available: set[str]) -> str:
    from importlib.metadata import version

    named = sorted((available - {"hyperscalees"}) | {"torch"} | ({"jax", "optax"} if "hyperscalees" in available else set()))
    return ", ".join(f"{name} {version(name)}" for name in named)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=FUNCTIONS)
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 100], help="of the functions")
    parser.add_argument("--optimizers", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget-per-dim", type=int, default=1000, help="evaluations per dimension (functions)")
    parser.add_argument("--noprop-budget", type=int, default=30_000, help="evaluations on the NoProp block")
    parser.add_argument("--max-full-dim", type=int, default=100, help="full CMA-ES only up to this dimension")
    parser.add_argument("--out", type=Path, help="write the report here (markdown)")
    parser.add_argument("--hyperscalees", type=Path, help="the src/hyperscalees folder of a HyperscaleES checkout")
    args = parser.parse_args()
    HYPERSCALEES.extend([args.hyperscalees] if args.hyperscalees else [])
    torch.set_num_threads(1)
    available = installed()
    if not available:
        print("outside_check: skipped: none of evosax, evotorch, pypop7 is installed, and no --hyperscalees")
        return
    started = time.perf_counter()
    rows, results = measure(args, available)
    lines = [*summary(results), "", *rows, "",
             f"{time.perf_counter() - started:.0f} s wall on {platform.processor() or platform.machine()}, one thread; "
             f"{versions(available)}"]
    print("\n".join(lines))
    if args.out:
        command = "OMP_NUM_THREADS=1 " + command_line(__spec__.name)
        notes = []
        if args.hyperscalees:  # the reference's folder is of this machine: the report names it by its role
            command = command.replace(str(args.hyperscalees), "HYPERSCALEES")
            notes = ["", "HYPERSCALEES: the `src/hyperscalees` folder of a checkout of ESHyperscale/HyperscaleES."]
        args.out.write_text("\n".join(["# Ours against outside implementations", "", "```bash", command, "```", *notes,
                                       "", *lines, ""]))


if __name__ == "__main__":
    main()
