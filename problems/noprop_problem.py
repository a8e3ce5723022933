"""What every NoProp-DT problem shares: data, noise schedule, class embedding, block family, noise draws.

A step's loss sees the minibatch of its draw and, for every level t, the noise of
z_t ~ q(z_t | y) seeded by (draw.noise_seed, t): a block problem, the head problem and
the whole network see the same noise for the same draw. ``metrics`` evaluates the full
train and test splits with a fixed noise seed, in chunks of rows where a split's
activations would not fit the device's memory (:meth:`NoPropProblem.over_rows`); a chunk
sees the rows of the noise the whole split would see, so chunking changes only rounding.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from optsuite.crn import derive_seed, generator
from optsuite.engine import chunk_size, chunked, memory_cap
from optsuite.errors import UserError
from optsuite.problem import Draw, LinearReadout, Problem
from optsuite.registry import check_kwargs

from .datasets import DATA_HELP, load_dataset
from .noprop_blocks import FEATURE_INITS
from .noprop_families import make_block
from .noprop_embedding import initial_embedding
from .noprop_schedule import CLAMP, NoiseSchedule

DTYPES = {"float32": torch.float32, "float64": torch.float64}
METRICS_CHUNK_BYTES = 4 << 30  # a split's estimated activations above this (or the free memory's cap) go in chunks
_window = threading.local()  # (first row, rows of the whole split, draws made) while a split goes in chunks


@contextmanager
def row_window(start: int, total: int, draws: dict) -> Iterator[None]:
    """Per-row draws (:meth:`NoPropProblem.per_row`) made inside are rows ``start..`` of a draw for ``total``
    rows, kept in ``draws`` for the split's other chunks."""
    before, _window.rows = getattr(_window, "rows", None), (start, total, draws)
    try:
        yield
    finally:
        _window.rows = before


class NoPropProblem(Problem):
    """Base of the NoProp-DT problems. Subclasses set ``dim``, ``flops_per_sample``,
    ``floats_per_sample`` and implement ``initial`` and ``loss``.

    Settings: ``dataset``, ``data_root``, ``data_seed`` (the split), ``block`` family,
    ``T`` blocks, ``embedding``, ``hidden`` units (features for random-features),
    ``eta``, ``batch_size``, ``embed_seed`` (learned embedding init), ``feature_seed`` and
    ``feature_init`` (random projections: ``fan-in`` or ``per-input``, see
    :func:`~.noprop_blocks.random_projection`), ``channels`` (the cnn block's first
    convolution; the paper's 32), ``device``, ``dtype``. An unknown block family, or the
    cnn block on a dataset without images, is refused when a subclass builds its blocks.
    """

    floats_per_sample: int = 1
    settings_help = {
        **DATA_HELP, "block": "block family: mlp, random-features, learned-features or cnn (images)",
        "T": "number of blocks (diffusion steps)", "embedding": "class embedding: one-hot, learned or prototype",
        "hidden": "hidden units of a block (features of random-features)", "eta": "NoProp's loss weight eta",
        "batch_size": "rows of a step's minibatch", "embed_seed": "seed of a learned embedding's initial value",
        "feature_seed": "seed of the random-features projections",
        "feature_init": "random-features projections: fan-in (N(0, 1/(n_in + d)) on [x; z], U(-1, 1) biases) or "
                        "per-input (x and z rows scaled apart, N(0, 1) biases)",
        "channels": "the cnn block's first convolution",
        "dtype": "float32 or float64",
    }

    def __init__(self, dataset: str = "digits", data_root: str | None = None, data_seed: int = 0,
                 block: str = "mlp", T: int = 10, embedding: str = "one-hot", hidden: int = 64,
                 eta: float = 0.1, batch_size: int = 128, embed_seed: int = 0, feature_seed: int = 0,
                 feature_init: str = FEATURE_INITS[0], channels: int = 32, device: str = "cpu",
                 dtype: str = "float32") -> None:
        self.settings = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        for key in ("T", "hidden", "batch_size", "channels"):
            self.check_positive_int(key, self.settings[key])
        if NoiseSchedule.flat(T):
            raise UserError(f"problem {self.name!r}: T={T} is too many blocks: the noise schedule (clamped to "
                            f"[{CLAMP:g}, 1 - {CLAMP:g}]) would give a block no loss weight; T can be at most "
                            f"{NoiseSchedule.most_steps()}")
        if not eta > 0:
            raise UserError(f"problem {self.name!r}: eta={eta!r} must be positive")
        if feature_init not in FEATURE_INITS:
            known = ", ".join(FEATURE_INITS)
            raise UserError(f"problem {self.name!r}: feature_init {feature_init!r} unknown; known: {known}")
        if dtype not in DTYPES:
            raise UserError(f"problem {self.name!r}: dtype {dtype!r} unknown; known: {', '.join(DTYPES)}")
        self.device, self.dtype = self.check_device(device), DTYPES[dtype]
        self.data = load_dataset(dataset, data_root, data_seed).to(self.device)
        self.embed = initial_embedding(embedding, self.data, embed_seed).to(self.dtype)
        self.schedule = NoiseSchedule.cosine(T)
        self.T, self.eta, self.batch_size = T, float(eta), batch_size
        self.n_train = int(self.data.x_train.shape[0])
        self.n_classes, self.d = self.data.n_classes, int(self.embed.shape[1])

    @classmethod
    def check_settings(cls, settings: dict) -> None:
        """Refuse names that ``cls`` does not accept (its own settings and the base ones), on one line."""
        check_kwargs(f"problem {cls.name!r}", cls, settings)

    def block(self, t: int):
        """Block ``t`` (1..T) of the configured family."""
        s = self.settings
        if s["block"] == "cnn" and self.data.shape is None:
            raise UserError(f"problem {self.name!r}: block 'cnn' needs images; dataset {self.data.name!r} has no image shape")
        return make_block(s["block"], self.data.n_features, self.d, self.n_classes, s["hidden"],
                          s["feature_seed"], t, self.device, self.dtype, self.data.shape, s["channels"],
                          s["feature_init"])

    def check_positive_int(self, key: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"problem {self.name!r}: {key}={value!r} must be a positive integer")

    def check_level(self, t: object) -> int:
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= self.T:
            raise UserError(f"problem {self.name!r}: t={t!r} must be an integer in 1..T={self.T}")
        return t

    # -- data and noise ------------------------------------------------------------
    def rows(self, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor | None = None):
        """``(x [B, n_in], y [B])`` in the problem's dtype, optionally the ``indices`` rows."""
        if indices is not None:
            indices = indices.to(self.device)
            x, y = x[indices], y[indices]
        return x.to(self.dtype), y

    def noised(self, u: torch.Tensor, t: int, noise_seed: int) -> torch.Tensor:
        """z_t ~ q(z_t | y) for ``u [B, d]`` or ``[P, B, d]``; the noise ``[B, d]`` depends on (noise_seed, t) only."""
        return self.schedule.noised(u, t, self.gaussian(u.shape[-2], noise_seed, "z", t))

    def gaussian(self, n: int, *keys: object) -> torch.Tensor:
        """``[n, d]`` standard normal noise seeded by ``keys``; drawn in float32, so every dtype sees the same numbers."""
        draw = lambda rows: torch.randn(rows, self.d, generator=generator(*keys, device=self.device), device=self.device)
        return self.per_row(n, ("gaussian", *keys), draw).to(self.dtype)

    @staticmethod
    def per_row(n: int, key: tuple, draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
        """``draw(n)``, a draw of one value (or row) per data row seeded by ``key``; inside :func:`row_window`,
        rows ``start..start + n`` of ``draw(total)`` (drawn once per split), so that a chunk of a split sees
        what the whole split sees."""
        window = getattr(_window, "rows", None)
        if window is None:
            return draw(n)
        start, total, draws = window
        if key not in draws:
            draws[key] = draw(total)
        return draws[key][start : start + n]

    def over_rows(self, fn: Callable[[torch.Tensor, torch.Tensor], dict[str, float]], x: torch.Tensor,
                  y: torch.Tensor) -> dict[str, float]:
        """``fn(x, y)``, a dict of means over the rows of ``x [n, n_in]``, ``y [n]``, for one candidate; in
        chunks of rows (their row-weighted means) where the whole split's estimated activations would take
        more than :data:`METRICS_CHUNK_BYTES`, or the device's :func:`~optsuite.engine.memory_cap` where that
        is less (so a split goes in the same chunks each time, unless memory is short)."""
        n = x.shape[0]
        cap = min(METRICS_CHUNK_BYTES, memory_cap(self.device))
        size = chunk_size(n, 2 * self.floats_per_sample * torch.finfo(self.dtype).bits // 8, cap)
        if n <= size:
            return fn(x, y)
        totals: dict[str, float] = {}
        draws: dict = {}
        for i in range(0, n, size):
            with row_window(i, n, draws):
                part = fn(x[i : i + size], y[i : i + size])
            for key, value in part.items():
                totals[key] = totals.get(key, 0.0) + value * min(size, n - i)
        return {key: value / n for key, value in totals.items()}

    # -- losses ----------------------------------------------------------------------
    def loss(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, noise_seed: int) -> torch.Tensor:
        """``params [P, dim]`` on rows ``x [B, n_in]``, ``y [B]`` with noise ``noise_seed`` -> ``[P]``."""
        raise NotImplementedError

    def evaluate(self, params: torch.Tensor, draw: Draw) -> torch.Tensor:
        x, y = self.rows(self.data.x_train, self.data.y_train, draw.indices)
        per_candidate = x.shape[0] * self.floats_per_sample * params.element_size() * 2
        return chunked(lambda p: self.loss(p, x, y, draw.noise_seed), params, per_candidate)

    def metrics(self, params: torch.Tensor) -> dict[str, float]:
        """Full train and test loss with fixed noise."""
        d = self.data
        splits = {"train": (d.x_train, d.y_train), "test": (d.x_test, d.y_test)}
        loss = lambda seed: lambda x, y: {"loss": float(self.loss(params[None], x, y, seed)[0])}
        with torch.no_grad():
            return {f"{name}_loss": self.over_rows(loss(derive_seed("metrics", name)), *self.rows(x, y))["loss"]
                    for name, (x, y) in splits.items()}

    def readout(self, t: int, features, targets, draws: int, ridge: float) -> LinearReadout:
        """The least-squares form: rows ``[features(x, z_t), 1]`` -> ``targets(y, u_y)``, streamed over the
        training set ``draws`` times, each with its own fixed noise of z_t.

        ``features(x [n, n_in], z [n, d]) -> [n, f]``; the packed readout is (W ``[f, k]``, bias ``[k]``).
        """
        d = self.data

        def batches(chunk: int = 1024):
            for r in range(draws):
                for i in range(0, self.n_train, chunk):
                    x, y = self.rows(d.x_train[i : i + chunk], d.y_train[i : i + chunk])
                    u = self.embed[y]
                    phi = features(x, self.noised(u, t, derive_seed("readout", r, i)))
                    yield torch.cat([phi, torch.ones_like(phi[:, :1])], 1), targets(y, u)

        pack = lambda w: torch.cat([w[:-1].reshape(-1), w[-1]]).to(self.dtype)
        return LinearReadout(batches, pack, ridge, flops_per_sample=self.flops_per_sample)


class ClassifierProblem(NoPropProblem):
    """A whole network: ``predict`` gives class logits, ``metrics`` adds the train and test accuracy."""

    network = True

    def predict(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[P, B, K]`` of ``params [P, dim]`` on ``x [B, n_in]``."""
        raise NotImplementedError

    def accuracies(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """``accuracy`` of ``params [dim]`` on rows ``x [n, n_in]``, ``y [n]`` (subclasses add others)."""
        return {"accuracy": float(self.predict(params[None], x)[0].argmax(-1).eq(y).double().mean())}

    def metrics(self, params: torch.Tensor) -> dict[str, float]:
        """Full train and test loss, and the network's accuracies on both splits (``test_accuracy``, ...)."""
        out = super().metrics(params)
        for split in ("train", "test"):
            x, y = self.rows(getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}"))
            with torch.no_grad():
                accuracies = self.over_rows(lambda xs, ys: self.accuracies(params, xs, ys), x, y)
            out.update({f"{split}_{k}": v for k, v in accuracies.items()})
        return out


def squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over samples of ||pred - target||^2: ``pred [P, B, k]``, ``target [B, k]`` or ``[P, B, k]`` -> ``[P]`` float64.

    Accumulated in float64: block T's weight (~5e3 at T = 10) would otherwise scale
    float32 rounding up to differences an optimizer must resolve.
    """
    return ((pred.double() - target.double()) ** 2).sum(-1).mean(-1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy: ``logits [P, B, K]``, ``y [B]`` -> ``[P]`` float64."""
    P, B, K = logits.shape
    return F.cross_entropy(logits.reshape(P * B, K).double(), y.repeat(P), reduction="none").reshape(P, B).mean(-1)
