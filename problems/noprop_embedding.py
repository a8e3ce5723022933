"""Class embeddings W_embed ``[K, d]``: u_y = W_embed[y], the targets the NoProp blocks denoise towards.

- ``one-hot``: the identity, d = K, fixed.
- ``learned``: d = 20, initialised N(0, 1/d) from ``seed`` (rows of norm ~1, like one-hot).
- ``prototype``: d = input dim, initialised from the class-mean training inputs.

Whole networks learn ``learned`` and ``prototype`` embeddings jointly with the blocks;
per-block problems hold W_embed fixed at its initial value, so independently trained
blocks agree on their targets.
"""
from __future__ import annotations

import math

import torch

from optsuite.crn import generator
from optsuite.errors import UserError

from .datasets import Dataset

EMBEDDINGS = ("one-hot", "learned", "prototype")
LEARNED_DIM = 20


def initial_embedding(kind: str, data: Dataset, seed: int) -> torch.Tensor:
    """W_embed ``[K, d]`` float32 on the data's device."""
    K, device = data.n_classes, data.x_train.device
    if kind == "one-hot":
        return torch.eye(K, device=device)
    if kind == "learned":
        g = generator(seed, "embedding")
        return (torch.randn(K, LEARNED_DIM, generator=g) / math.sqrt(LEARNED_DIM)).to(device)
    if kind == "prototype":
        sums = torch.zeros(K, data.n_features, device=device).index_add_(0, data.y_train, data.x_train)
        return sums / torch.bincount(data.y_train, minlength=K).clamp(min=1)[:, None]
    raise UserError(f"unknown embedding {kind!r}; known: {', '.join(EMBEDDINGS)}")


def is_learnable(kind: str) -> bool:
    """Whether a whole network trains W_embed (one-hot stays the identity)."""
    return kind != "one-hot"
