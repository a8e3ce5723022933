"""CMA-ES by pycma, the reference implementation, through its ask/tell interface."""
from __future__ import annotations

import cma
import numpy as np
import torch

from optsuite.crn import derive_seed
from optsuite.optimizer import AskTell, StepInfo
from optsuite.registry import register_optimizer

from ._es import HYPER_HELP, check_population_and_sigma, population_size


def pycma_seed(seed: int) -> int:
    """A seed in [1, 2^32 - 1] for pycma, which reads 0 as "seed from the clock"."""
    return derive_seed(seed, "cma") % (2**32 - 1) + 1


@register_optimizer("cma")
class PyCMA(AskTell):
    """CMA-ES by pycma (the reference): one batched evaluate per generation; separable = diagonal C.

    pycma samples from numpy's global generator, which it seeds with a seed derived
    from the run's seed. It prints nothing and writes no files.
    """

    defaults = {"population": 0, "sigma0": 0.5, "separable": False}
    hyper_help = {**HYPER_HELP, "separable": "diagonal covariance (pycma's CMA_diagonal): linear in the dimension"}

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        check_population_and_sigma("cma", self.hyper)

    def population(self, dim: int) -> int:
        return population_size(dim, self.hyper["population"])

    def init(self, problem, seed: int) -> None:
        h = self.hyper
        options = {"seed": pycma_seed(seed), "verbose": -9, "verb_log": 0, "verb_disp": 0,
                   "CMA_diagonal": h["separable"]}
        if h["population"]:
            options["popsize"] = h["population"]
        x0 = problem.initial(seed).detach().cpu().double().numpy()
        self.es = cma.CMAEvolutionStrategy(x0, h["sigma0"], options)
        self.device, self.dtype = problem.device, problem.dtype

    def ask(self) -> torch.Tensor:
        self.asked = self.es.ask()
        return torch.as_tensor(np.array(self.asked), dtype=self.dtype, device=self.device)

    def tell(self, losses: torch.Tensor) -> StepInfo:
        losses = losses.double().cpu().numpy()
        self.es.tell(self.asked, losses.tolist())
        return StepInfo(float(losses.min()), done=bool(self.es.stop()))

    def best(self) -> torch.Tensor:
        """The distribution mean ``[dim]``."""
        return torch.as_tensor(self.es.mean, dtype=self.dtype, device=self.device).clone()
