"""A whole NoProp-DT network (``noprop-net``): all T blocks, the head and a learnable embedding, jointly.

Parameters, in order: block 1 .. block T, the head, then W_embed ``[K, d]`` when the
embedding is learnable. The loss is the full NoProp-DT objective on the step's draw:
sum_t (T/2) eta (SNR(t) - SNR(t-1)) E||u_hat_t - u_y||^2 + E[-log p(y | z_T)] + KL(q(z_0 | y) || N(0, I)).
Prediction runs the inference chain from z_0 ~ N(0, I) (fixed seed) and takes
argmax p(y | z_T).
"""
from __future__ import annotations

import torch

from optsuite.population import Layout
from optsuite.population import split as split_population
from optsuite.registry import register_problem

from .noprop_blocks import LinearHead
from .noprop_embedding import is_learnable
from .noprop_problem import ClassifierProblem, cross_entropy, squared_error

INFERENCE_SEED = 0


@register_problem("noprop-net")
class NoPropNet(ClassifierProblem):
    """All NoProp-DT blocks, the head (and a learned embedding) on the full NoProp-DT objective."""

    def __init__(self, **settings) -> None:
        self.check_settings(settings)
        super().__init__(**settings)
        self.blocks = [self.block(t) for t in range(1, self.T + 1)]
        self.head = LinearHead(self.d, self.n_classes)
        self.learn_embed = is_learnable(self.settings["embedding"])
        parts = [*self.blocks, self.head]
        self.sizes = [p.dim for p in parts] + ([self.embed.numel()] if self.learn_embed else [])
        self.dim = sum(self.sizes)
        self.flops_per_sample = sum(p.flops_per_sample for p in parts)
        self.floats_per_sample = max(p.floats_per_sample for p in parts) + 2 * self.d
        self.weights = [self.schedule.block_weight(t, self.eta) for t in range(1, self.T + 1)]

    def initial(self, seed: int) -> torch.Tensor:
        """Each block and the head as their own problems would start; W_embed at its initial value."""
        parts = [b.initial(seed, "block", t) for t, b in enumerate(self.blocks, 1)]
        parts.append(self.head.initial(seed, "head"))
        parts += [self.embed.reshape(-1).cpu()] if self.learn_embed else []
        return torch.cat(parts).to(self.device, self.dtype)

    def join(self, blocks: list[torch.Tensor], head: torch.Tensor) -> torch.Tensor:
        """``[dim]`` from independently trained block parameters ``[dim_t]`` (t = 1..T) and head ``[dim_h]``."""
        embed = [self.embed.reshape(-1)] if self.learn_embed else []
        return torch.cat([*blocks, head, *embed]).to(self.device, self.dtype)

    def split(self, params: torch.Tensor):
        """``params [P, dim]`` (or a low-rank population) -> (block parameters ``[P, dim_t]`` per t, head ``[P, dim_h]``, W_embed ``[K, d]`` or ``[P, K, d]``)."""
        parts = split_population(params, self.sizes)
        embed = parts.pop().reshape(-1, *self.embed.shape) if self.learn_embed else self.embed
        return parts[: self.T], parts[self.T], embed

    def parameter_layout(self) -> Layout:
        """Every block's and the head's weight matrices; a learned W_embed lies outside them."""
        return Layout.concat([*(b.layout for b in self.blocks), self.head.layout]).padded(self.dim)

    @staticmethod
    def labels(embed: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """u_y: ``[B, d]`` for a fixed ``embed [K, d]``, ``[P, B, d]`` for ``[P, K, d]``."""
        return embed[y] if embed.dim() == 2 else embed[:, y]

    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        blocks, head, embed = self.split(params)
        u = self.labels(embed, y)
        total = cross_entropy(self.head.forward(head, self.noised(u, self.T, noise_seed)), y)
        for t, (block, p, weight) in enumerate(zip(self.blocks, blocks, self.weights), 1):
            u_hat = block.forward(p, x, self.noised(u, t - 1, noise_seed), embed)
            total = total + weight * squared_error(u_hat, u)
        return total + self.schedule.kl_to_standard_normal(u).mean(-1)

    def chain(self, params: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inference chain z_0 ~ N(0, I) -> z_T (noise from a fixed seed): (z_T ``[P, B, d]``, head
        parameters ``[P, dim_h]``, W_embed ``[K, d]`` or ``[P, K, d]``)."""
        blocks, head, embed = self.split(params)
        a, b, c = (v.tolist() for v in self.schedule.inference_coefficients())
        z = self.gaussian(x.shape[0], INFERENCE_SEED, "inference", 0)
        for t, (block, p) in enumerate(zip(self.blocks, blocks)):
            eps = self.gaussian(x.shape[0], INFERENCE_SEED, "inference", t + 1)
            z = a[t] * block.forward(p, x, z, embed) + b[t] * z + c[t] ** 0.5 * eps
        return z.expand(params.shape[0], *z.shape[-2:]), head, embed

    def predict(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[P, B, K]`` of the head on the chain's z_T."""
        z, head, _ = self.chain(params, x)
        return self.head.forward(head, z)

    def accuracies(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """The head's ``accuracy`` and the chain's own, ``chain_accuracy``: the class whose embedding is
        nearest to z_T, no head (a head that relabels classes shows as the gap between the two)."""
        z, head, embed = self.chain(params[None], x)
        embed = embed if embed.dim() == 3 else embed[None]
        nearest = torch.cdist(z.double(), embed.double()).argmin(-1)[0]
        predicted = self.head.forward(head, z)[0].argmax(-1)
        return {"accuracy": float(predicted.eq(y).double().mean()), "chain_accuracy": float(nearest.eq(y).double().mean())}
