"""Common random numbers: every random stream is a pure function of its keys.

A step's minibatch and noise depend only on (seed, step), never on which optimizer
asks or how often, so paired comparisons across optimizers are valid.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


def derive_seed(*keys: object) -> int:
    """A 63-bit seed that depends only on ``keys`` (ints and strings), stable across runs."""
    text = "\x1f".join(repr(k) for k in keys).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def generator(*keys: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded by :func:`derive_seed` of ``keys``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(*keys))
    return g


@dataclass(frozen=True)
class Draw:
    """The common random numbers of one step: a pure function of (seed, step).

    ``indices``: minibatch rows of the training set ``[B]`` (None: no data or full
    batch). ``noise_seed``: seeds any other noise the loss uses (e.g. z_{t-1}).
    """

    step: int
    seed: int
    indices: torch.Tensor | None
    noise_seed: int
