"""A NoProp-DT network trained part by part (``noprop-dt``): T blocks and the head, each on its own local loss.

The network is ``noprop-net``'s (same parameters, objective and inference chain), but no
optimizer ever sees it whole: its parts are ``noprop-block`` t = 1..T and ``noprop-head``,
independent problems that runners train one by one (or in parallel) under shares of one
budget for the whole network, then assemble. W_embed stays at its initial value (a
learned embedding is not trained: independent blocks must agree on their targets).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from optsuite.errors import UserError
from optsuite.parts import SPLITS, Decomposable, Part
from optsuite.registry import register_problem

from .noprop import HEAD_LOSSES, READOUT_DRAWS, READOUT_HELP, check_readout_settings
from .noprop_net import NoPropNet

HEAD_LOSS_CHOICES = ("auto", *HEAD_LOSSES)


@register_problem("noprop-dt")
class NoPropDT(Decomposable, NoPropNet):
    """A NoProp-DT network trained part by part: blocks 1..T and the head, each alone on its local loss.

    Settings: noprop-net's, and for the parts ``ridge`` and ``readout_draws`` (see
    noprop-block), ``head_loss`` ("auto": squared where the head's solver needs a linear
    readout, so a closed form can train it, else cross-entropy) and ``budget_split``, how a
    budget for the whole network is shared: "equal" (default) or "size" (by parameters).
    """

    settings_help = {**READOUT_HELP, "head_loss": "auto, cross-entropy or squared (auto: squared where the head's "
                                                  "solver needs a linear readout)",
                     "budget_split": "how a budget for the whole network is shared: equal, or size (by parameters)"}

    def __init__(self, ridge: float = 0.0, readout_draws: int = READOUT_DRAWS, head_loss: str = "auto",
                 budget_split: str = "equal",
                 **settings) -> None:
        super().__init__(**settings)
        check_readout_settings(self, ridge, readout_draws)
        if head_loss not in HEAD_LOSS_CHOICES:
            raise UserError(f"problem {self.name!r}: head_loss {head_loss!r} unknown; known: {', '.join(HEAD_LOSS_CHOICES)}")
        if budget_split not in SPLITS:
            raise UserError(f"problem {self.name!r}: budget_split {budget_split!r} unknown; known: {', '.join(SPLITS)}")
        self.net_settings = dict(self.settings)
        self.part_settings = {"ridge": ridge, "readout_draws": readout_draws}
        self.head_loss, self.budget_split = head_loss, budget_split
        self.settings.update(self.part_settings, head_loss=head_loss, budget_split=budget_split)

    def part_labels(self) -> list[str]:
        return [f"block {t}" for t in range(1, self.T + 1)] + ["head"]

    def parts(self, needs: Mapping[str, Sequence[str]] | None = None) -> list[Part]:
        head_loss = self.head_loss
        if head_loss == "auto":
            head_loss = "squared" if "linear_readout" in (needs or {}).get("head", ()) else "cross-entropy"
        base = {**self.net_settings, **self.part_settings}
        blocks = [Part(f"block {t}", "noprop-block", {**base, "t": t}) for t in range(1, self.T + 1)]
        return blocks + [Part("head", "noprop-head", {**base, "loss": head_loss})]

    def assemble(self, bests: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.join([bests[f"block {t}"] for t in range(1, self.T + 1)], bests["head"])
