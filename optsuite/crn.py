"""Common random numbers: every random stream is a pure function of its keys.

A step's minibatch and noise depend only on (seed, step), never on which optimizer
asks or how often, so paired comparisons across optimizers are valid.
"""
from __future__ import annotations

import hashlib

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
