"""The block families of a NoProp-DT network, by name: ``make_block("mlp", ...)`` builds block t of a family."""
from __future__ import annotations

import torch

from optsuite.errors import UserError

from .noprop_blocks import FEATURE_INITS, LearnedFeatureBlock, MLPBlock, RandomFeatureBlock
from .noprop_cnn import CNNBlock

BLOCKS = ("mlp", "random-features", "learned-features", "cnn")


def make_block(kind: str, n_in: int, d: int, n_classes: int, hidden: int, feature_seed: int, t: int,
               device: torch.device, dtype: torch.dtype, image: tuple[int, int, int] | None = None,
               channels: int = 32, feature_init: str = FEATURE_INITS[0]):
    """Block ``t`` of family ``kind``; random features are seeded by (``feature_seed``, t) and drawn as
    ``feature_init`` says (:func:`.noprop_blocks.random_projection`).

    ``image``: the input's ``(channels, height, width)``, which the cnn block needs, with
    ``channels`` in its first convolution.
    """
    if kind == "cnn":
        return CNNBlock(image, d, n_classes, hidden, channels)
    if kind == "mlp":
        return MLPBlock(n_in, d, n_classes, hidden)
    if kind == "random-features":
        return RandomFeatureBlock(n_in, d, n_classes, hidden, feature_seed, t, device, dtype, feature_init)
    if kind == "learned-features":
        return LearnedFeatureBlock(n_in, d, n_classes, hidden, feature_seed, t, device, dtype, feature_init)
    raise UserError(f"unknown block family {kind!r}; known: {', '.join(BLOCKS)}")
