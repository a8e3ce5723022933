"""NoProp-DT, -CT and -FM side by side on one dataset; writes reports/noprop_variants.md.

    .venv/bin/python -m optsuite.benchmarks.noprop_variants --seeds 3

Per seed s: data_seed = s (the split) and run seed s, as in reports/noprop_reproduction.py.
- NoProp-DT: T = 10 mlp blocks and the head, each trained alone with AdamW for ``--steps``
  steps (the DT reproduction's setting), assembled into noprop-net.
- NoProp-CT and NoProp-FM: the whole time-conditioned network trained with AdamW, at the
  paper's learning rate for ``--steps`` steps, and at 3x that learning rate for 3x the steps.
- Inference steps: the test accuracy of the CT and FM networks of the first rows when
  their chains take other numbers of steps.
- Tried: variants of CT and FM on seed 0 (learning rate, steps, time features, schedule, eta).
- Gradient-free: SNES on CT and FM at ``--budget`` sample-forwards; its sigma0 is picked
  by the final train loss of a sweep at the same budget on a tuning seed.
Everything runs on one CPU thread.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from optsuite.benchmarks.noprop_reproduction import train_parts
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run

ADAMW = {"algorithm": "adamw", "lr": 1e-3, "weight_decay": 1e-3}
COMMAND = ".venv/bin/python -m optsuite.benchmarks.noprop_variants"
INFERENCE_STEPS = (1, 5, 20, 100, 500)
SIGMAS = (0.05, 0.01, 0.002)
TUNING_SEED = 100  # disjoint from the evaluation seeds 0, 1, 2, ...


@dataclass
class Outcome:
    """One trained network: its metrics, what it cost, and its parameters (None for DT)."""

    metrics: dict[str, float]
    sample_forwards: float
    seconds: float
    problem: object = None
    best: torch.Tensor | None = None
    notes: dict[str, float] = field(default_factory=dict)


def schedule_ends(problem, best: torch.Tensor) -> dict[str, float]:
    """alpha_bar(0) and alpha_bar(1) of a CT network's learned schedule (empty for other networks)."""
    if getattr(problem, "noise", None) is None or not problem.noise.dim:
        return {}
    ends = problem.noise.alpha_bar(problem.split(best[None])[2], torch.tensor([0.0, 1.0], dtype=torch.float64))[0]
    return {"alpha_bar(0)": float(ends[0]), "alpha_bar(1)": float(ends[1])}


def train(name: str, settings: dict, optimizer: str, hyper: dict, budget: dict, seed: int) -> Outcome:
    problem = PROBLEMS.create(name, **settings)
    started = time.perf_counter()
    result = run(problem, OPTIMIZERS.create(optimizer, **hyper), Budget(**budget), seed)
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise RuntimeError(f"{name} with {optimizer} failed: {result.error}")
    return Outcome(result.metrics, result.spent["sample_forwards"], seconds, problem, result.best,
                   schedule_ends(problem, result.best))


def train_dt(args: argparse.Namespace, seed: int) -> Outcome:
    net = {"dataset": args.dataset, "T": 10, "hidden": args.hidden, "data_seed": seed}
    started = time.perf_counter()
    result = train_parts(net, "gd", ADAMW, args.steps, seed, jobs=1)
    return Outcome(result.metrics, result.spent["sample_forwards"], time.perf_counter() - started)


def network(args: argparse.Namespace, seed: int, **extra) -> dict:
    return {"dataset": args.dataset, "hidden": args.hidden, "data_seed": seed, **extra}


def main_rows(args: argparse.Namespace) -> dict[str, list[Outcome]]:
    """Method -> one outcome per seed."""
    tuned = {**ADAMW, "lr": 3 * ADAMW["lr"]}
    methods = {
        "NoProp-DT, AdamW per block": lambda s: train_dt(args, s),
        "NoProp-CT, AdamW": lambda s: train("noprop-ct", network(args, s), "gd", ADAMW, {"steps": args.steps}, s),
        "NoProp-FM, AdamW": lambda s: train("noprop-fm", network(args, s), "gd", ADAMW, {"steps": args.steps}, s),
        "NoProp-CT, AdamW, 3x lr, 3x steps": lambda s: train("noprop-ct", network(args, s), "gd", tuned,
                                                             {"steps": 3 * args.steps}, s),
        "NoProp-FM, AdamW, 3x lr, 3x steps": lambda s: train("noprop-fm", network(args, s), "gd", tuned,
                                                             {"steps": 3 * args.steps}, s),
    }
    rows = {}
    for method, fit in methods.items():
        rows[method] = []
        for seed in range(args.seeds):
            rows[method].append(fit(seed))
            print(f"{method}, seed {seed}: test accuracy {rows[method][-1].metrics['test_accuracy']:.4f}", flush=True)
    return rows


def tried_rows(args: argparse.Namespace) -> dict[str, Outcome]:
    """Variants on seed 0: (problem, settings, hyper, steps) each."""
    lr = ADAMW["lr"]
    variants = {
        "CT, lr 1e-2": ("noprop-ct", {}, {"lr": 10 * lr}, args.steps),
        "CT, lr 3e-3, 11x steps (DT's total)": ("noprop-ct", {}, {"lr": 3 * lr}, 11 * args.steps),
        "CT, 4 time features": ("noprop-ct", {"time_features": 4}, {}, args.steps),
        "CT, 32 time features": ("noprop-ct", {"time_features": 32}, {}, args.steps),
        "CT, eta 1": ("noprop-ct", {"eta": 1.0}, {}, args.steps),
        "CT, cosine schedule": ("noprop-ct", {"schedule": "cosine"}, {}, args.steps),
        "CT, cosine schedule, lr 3e-3, 3x steps": ("noprop-ct", {"schedule": "cosine"}, {"lr": 3 * lr}, 3 * args.steps),
        "CT, learned embedding": ("noprop-ct", {"embedding": "learned"}, {}, args.steps),
        "FM, lr 1e-2": ("noprop-fm", {}, {"lr": 10 * lr}, args.steps),
        "FM, 4 time features": ("noprop-fm", {"time_features": 4}, {}, args.steps),
        "FM, learned embedding": ("noprop-fm", {"embedding": "learned"}, {}, args.steps),
        "FM, prototype embedding": ("noprop-fm", {"embedding": "prototype"}, {}, args.steps),
    }
    rows = {}
    for label, (name, settings, hyper, steps) in variants.items():
        rows[label] = train(name, network(args, 0, **settings), "gd", {**ADAMW, **hyper}, {"steps": steps}, 0)
        print(f"tried {label}: test accuracy {rows[label].metrics['test_accuracy']:.4f}", flush=True)
    return rows


def inference_accuracy(outcome: Outcome, steps: int) -> float:
    problem = outcome.problem
    x, y = problem.rows(problem.data.x_test, problem.data.y_test)
    with torch.no_grad():
        logits = problem.head.forward(problem.split(outcome.best[None])[1], problem.chain(outcome.best[None], x, steps))
    return float(logits[0].argmax(-1).eq(y).double().mean())


def gradient_free(args: argparse.Namespace) -> tuple[dict[str, dict[float, Outcome]], dict[str, list[Outcome]], dict]:
    """(sigma sweep on the tuning seed, SNES at the picked sigma0 per seed, the picks), for CT and FM."""
    sweep, rows, picks = {}, {}, {}
    for name in ("noprop-ct", "noprop-fm"):
        sweep[name] = {s: train(name, network(args, TUNING_SEED), "snes", {"sigma0": s},
                                {"sample_forwards": args.budget}, TUNING_SEED) for s in SIGMAS}
        picks[name] = min(SIGMAS, key=lambda s: sweep[name][s].metrics["train_loss"])
        rows[name] = [train(name, network(args, s), "snes", {"sigma0": picks[name]}, {"sample_forwards": args.budget},
                            s) for s in range(args.seeds)]
        print(f"snes on {name}, sigma0 {picks[name]}: test accuracy "
              f"{statistics.mean(o.metrics['test_accuracy'] for o in rows[name]):.4f}", flush=True)
    return sweep, rows, picks


def percent(values: list[float]) -> str:
    """mean ± sample sd of fractions, in percent."""
    pct = [100 * v for v in values]
    sd = statistics.stdev(pct) if len(pct) > 1 else 0.0
    return f"{statistics.mean(pct):.2f} ± {sd:.2f}"


def accuracy_cells(outcomes: list[Outcome]) -> list[str]:
    heads = [o.metrics["test_accuracy"] for o in outcomes]
    chains = [o.metrics.get("test_chain_accuracy") for o in outcomes]
    return [percent(heads), ", ".join(f"{100 * a:.2f}" for a in heads),
            percent(chains) if None not in chains else "–"]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def ends_cell(outcome: Outcome) -> str:
    n = outcome.notes
    return f"{n['alpha_bar(0)']:.4f} – {n['alpha_bar(1)']:.4f}" if n else "–"


def report(args, rows, tried, inference, sweep, snes, picks) -> str:
    dt = statistics.mean(o.metrics["test_accuracy"] for o in rows["NoProp-DT, AdamW per block"])
    seconds = lambda outcomes: f"{statistics.mean(o.seconds for o in outcomes):.0f}"
    main = table(["method", "test accuracy % (head)", "per seed", "chain accuracy %", "sample-forwards", "wall s (mean)"],
                 [[m, *accuracy_cells(v), f"{v[0].sample_forwards:,.0f}", seconds(v)] for m, v in rows.items()])
    gaps = [f"- {m}: {100 * (statistics.mean(o.metrics['test_accuracy'] for o in v) - dt):+.2f} points against DT."
            for m, v in rows.items() if not m.startswith("NoProp-DT")]
    steps = table(["network", *[f"N = {n}" for n in INFERENCE_STEPS]],
                  [[m, *[percent(values) for values in inference[m]]] for m in inference])
    default = {"CT": rows["NoProp-CT, AdamW"][0], "FM": rows["NoProp-FM, AdamW"][0]}
    change = lambda label, o: 100 * (o.metrics["test_accuracy"] - default[label[:2]].metrics["test_accuracy"])
    tried_table = table(["variant (seed 0)", "test accuracy %", "vs the default, points", "chain accuracy %",
                         "train loss", "alpha_bar(0) – alpha_bar(1)"],
                        [[label, f"{100 * o.metrics['test_accuracy']:.2f}", f"{change(label, o):+.2f}",
                          f"{100 * o.metrics['test_chain_accuracy']:.2f}", f"{o.metrics['train_loss']:.4g}", ends_cell(o)]
                         for label, o in tried.items()])
    sweep_table = table(["problem", *[f"sigma0 = {s}: train loss" for s in SIGMAS], "picked"],
                        [[name, *[f"{sweep[name][s].metrics['train_loss']:.4g}" for s in SIGMAS], str(picks[name])]
                         for name in sweep])
    snes_table = table(["problem", "test accuracy % (head)", "per seed", "chain accuracy %", "train loss (mean)",
                        "alpha_bar(0) – alpha_bar(1), seed 0", "sample-forwards", "wall s (mean)"],
                       [[f"{name}, snes sigma0 {picks[name]}", *accuracy_cells(v),
                         f"{statistics.mean(o.metrics['train_loss'] for o in v):.4g}", ends_cell(v[0]),
                         f"{v[0].sample_forwards:,.0f}", seconds(v)]
                        for name, v in snes.items()])
    lines = [
        f"# NoProp-DT, -CT and -FM: {args.dataset}",
        "",
        f"Test accuracy of the three NoProp variants on {args.dataset}, mean ± sample sd over {args.seeds} seeds "
        "(seed s: split `data_seed = s`, run seed s). Regenerate (one CPU thread):",
        "",
        "```bash",
        f"{COMMAND} --dataset {args.dataset} --seeds {args.seeds} --hidden {args.hidden} --steps {args.steps} "
        f"--budget {args.budget:.0f}",
        "```",
        "",
        "## Settings",
        "",
        f"- **DT**: `noprop-block` t = 1..10 (mlp blocks, `hidden = {args.hidden}`) and the cross-entropy "
        f"`noprop-head`, each trained alone by `gd` (AdamW, lr 1e-3, weight decay 1e-3, batch 128) for "
        f"{args.steps} steps, then assembled into `noprop-net` (reports/noprop_reproduction.md's setting).",
        f"- **CT**: `noprop-ct` (one network of the block's shape with a time path, `hidden = {args.hidden}`, "
        "16 sinusoidal time features, learned schedule, eta 0.1, one-hot embedding, 20 inference steps), the whole "
        f"network trained by the same AdamW for {args.steps} steps; then at lr 3e-3 for {3 * args.steps} steps.",
        "- **FM**: `noprop-fm`, the same network with a velocity output, trained the same ways.",
        "- **test accuracy** is the head's argmax p(y | z_1) (DT: z_T); **chain accuracy** is the class whose "
        "embedding is nearest to the chain's z_1 (DT's noprop-net does not report it).",
        "- Sample-forwards: DT's are summed over its 11 parts; CT and FM are one network, trained once. Wall "
        "seconds: one CPU thread on a shared machine, indicative only.",
        "",
        "## DT, CT and FM",
        "",
        *main,
        "",
        *gaps,
        "",
        "## Inference steps",
        "",
        "Test accuracy of the networks of the table above when the chain from z_0 to z_1 takes N steps "
        "(the other tables use N = 20; mean ± sd over seeds).",
        "",
        *steps,
        "",
        "## What else was tried",
        "",
        f"Seed 0 only, AdamW lr 1e-3 for {args.steps} steps and the default settings unless the row says "
        "otherwise; the default is the seed-0 run of the first table. A different schedule, eta or embedding is "
        "a different loss, so train losses compare only between rows of the same loss.",
        "",
        *tried_table,
        "",
        "## A gradient-free optimizer: SNES",
        "",
        f"`snes` (separable NES, its default population) on the CT and FM networks above, {args.budget:,.0f} "
        f"sample-forwards per run ({args.budget / rows['NoProp-CT, AdamW'][0].sample_forwards:.1f}x what AdamW's "
        f"{args.steps} steps use). sigma0 was picked by the final train loss of a run at the same budget on "
        f"tuning seed {TUNING_SEED}:",
        "",
        *sweep_table,
        "",
        *snes_table,
        "",
        "## Notes",
        "",
        *NOTES,
    ]
    return "\n".join(lines) + "\n"


NOTES = [
    "- **CT below DT.** At the paper's learning rate and DT's per-part steps CT falls short of DT (the lines "
    "under the first table); 3x the learning rate for 3x the steps closes most of the gap. Tried on seed 0 "
    "(What else was tried): "
    "eta changes nothing, 4 or 32 time features instead of 16 and a learned embedding change little, more "
    "inference steps add about a point (the inference-steps table), the cosine schedule is far worse, and "
    "both a 10x learning rate and 11x the steps at 3x the learning rate end below the 3x-steps row, with the "
    "learned schedule moved (alpha_bar(1) down from 0.999).",
    "- **Why CT trains slowly.** Its diffusion term weights a sample by SNR'(t), which the initial learned "
    "schedule makes grow like exp(14 t): samples near t = 1 (z_t close to u_y, an easy copy) dominate the "
    "gradient, and the early, noisy part of the chain, where the class must come from x, trains slowly (one "
    "inference step from z_0 is far less accurate than 20). The cosine schedule's SNR' peaks much higher near "
    "its clamp. Within one network with a fixed embedding the diffusion term alone reaches the denoiser "
    "(the head's cross-entropy sees z_1 ~ q(z_1 | y) only), so AdamW, invariant to the scale of a gradient, "
    "ignores eta there. The reported train loss is then mostly the head's cross-entropy, the same for "
    "every denoiser variant.",
    "- **The schedule's own trade-off.** The SNR'-weighted term shrinks when the learned schedule narrows its "
    "range, which the head's cross-entropy and the KL term resist. An optimizer that moves the schedule far "
    "(a large learning rate, long training, or search over all parameters at once) can lower the loss by "
    "narrowing alpha_bar's range instead of denoising; the alpha_bar columns show where each run left it.",
    "- **FM** weights every t the same and integrates a straight path from noise; at the paper's settings it "
    "matches DT here, with one network trained once (a tenth of DT's sample-forwards).",
    "- **SNES** (about 37 candidates a generation for about 62,600 parameters) learns CT partly, narrowing the "
    "schedule as it goes; on FM its chain finds the class more often than its head does. FM's target "
    "u_y - z_0 is mostly noise (E||z_0||^2 = d against ||u_y||^2 = 1 for one-hot), so most of what a random "
    "search sees of FM's loss is the noise, not the class; that is a likely reading, not a measured one. "
    "At 5x AdamW's sample-forwards both stay far below AdamW.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2000, help="AdamW steps per DT part, and of the CT/FM networks")
    parser.add_argument("--budget", type=float, default=4e6, help="SNES sample-forwards per run")
    parser.add_argument("--out", type=Path, default=Path("reports/noprop_variants.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = main_rows(args)
    inference = {m: [[inference_accuracy(o, n) for o in rows[m]] for n in INFERENCE_STEPS]
                 for m in ("NoProp-CT, AdamW", "NoProp-FM, AdamW")}
    tried = tried_rows(args)
    sweep, snes, picks = gradient_free(args)
    text = report(args, rows, tried, inference, sweep, snes, picks)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
