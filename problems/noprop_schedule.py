"""NoProp-DT's noise schedule: time runs from noise (t = 0) to label (t = T).

alpha_bar_t increases with t: the DDPM cosine schedule with its index reversed,
clamped to [1e-4, 1 - 1e-4]. The label diffusion is
q(z_t | y) = N(sqrt(alpha_bar_t) u_y, (1 - alpha_bar_t) I), and inference walks
z_0 ~ N(0, I) to z_T with the Gaussian posterior coefficients a_t, b_t, c_t.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

CLAMP = 1e-4


@dataclass(frozen=True)
class NoiseSchedule:
    """``alpha_bar [T + 1]`` float64, increasing from ~0 (noise) to ~1 (label)."""

    alpha_bar: torch.Tensor

    @classmethod
    def cosine(cls, T: int, s: float = 0.008) -> "NoiseSchedule":
        """The DDPM cosine schedule (Nichol & Dhariwal) read backwards, clamped."""
        steps = torch.arange(T + 1, dtype=torch.float64)
        f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
        ddpm = f / f[0]  # decreasing: 1 at step 0, ~0 at step T
        return cls(ddpm.flip(0).clamp(CLAMP, 1 - CLAMP))

    @staticmethod
    def flat(T: int, s: float = 0.008) -> bool:
        """Whether :meth:`cosine` of ``T`` steps gives a block a zero loss weight: the clamp makes the first two
        (or the last two) alpha_bar equal, so SNR(t) = SNR(t - 1). Computed at the four ends, for any ``T``."""
        steps = torch.tensor([0, 1, T - 1, T], dtype=torch.float64)
        f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
        ddpm = (f / f[0]).clamp(CLAMP, 1 - CLAMP)
        return bool(ddpm[0] == ddpm[1] or ddpm[2] == ddpm[3])

    @classmethod
    @functools.lru_cache(maxsize=None)
    def most_steps(cls) -> int:
        """The largest ``T`` whose :meth:`cosine` schedule gives every block a positive loss weight (see :meth:`flat`;
        every larger ``T`` gives some block none)."""
        low, high = 1, 2**20  # flat(low) is False, flat(high) True
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if cls.flat(middle) else (middle, high)
        return low

    @property
    def T(self) -> int:
        return int(self.alpha_bar.numel()) - 1

    def snr(self) -> torch.Tensor:
        """``[T + 1]``: alpha_bar_t / (1 - alpha_bar_t)."""
        return self.alpha_bar / (1 - self.alpha_bar)

    def alpha(self) -> torch.Tensor:
        """``[T]``: entry t - 1 is alpha_{t-1} = alpha_bar_{t-1} / alpha_bar_t, for t = 1..T."""
        return self.alpha_bar[:-1] / self.alpha_bar[1:]

    def block_weight(self, t: int, eta: float) -> float:
        """Block t's loss weight (T / 2) eta (SNR(t) - SNR(t - 1))."""
        snr = self.snr()
        return float(self.T / 2 * eta * (snr[t] - snr[t - 1]))

    def inference_coefficients(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(a, b, c)``, each ``[T]`` (entry t - 1 for step t) of z_t = a_t u_hat + b_t z_{t-1} + sqrt(c_t) eps."""
        ab, alpha = self.alpha_bar, self.alpha()
        ab_t, ab_prev = ab[1:], ab[:-1]
        a = ab_t.sqrt() * (1 - alpha) / (1 - ab_prev)
        b = alpha.sqrt() * (1 - ab_t) / (1 - ab_prev)
        c = (1 - ab_t) * (1 - alpha) / (1 - ab_prev)
        return a, b, c

    def noised(self, u: torch.Tensor, t: int, eps: torch.Tensor) -> torch.Tensor:
        """A draw of z_t ~ q(z_t | y): sqrt(alpha_bar_t) u + sqrt(1 - alpha_bar_t) eps; ``u``, ``eps`` broadcast."""
        ab = float(self.alpha_bar[t])
        return math.sqrt(ab) * u + math.sqrt(1 - ab) * eps

    def kl_to_standard_normal(self, u: torch.Tensor) -> torch.Tensor:
        """KL(q(z_0 | y) || N(0, I)) for embeddings ``u [..., d]`` -> ``[...]``."""
        return kl_to_standard_normal(u, float(self.alpha_bar[0]))


def kl_to_standard_normal(u: torch.Tensor, alpha_bar_0: float | torch.Tensor) -> torch.Tensor:
    """KL(N(sqrt(alpha_bar_0) u, (1 - alpha_bar_0) I) || N(0, I)) for ``u [..., d]`` -> ``[...]``.

    ``alpha_bar_0``: a number, or a tensor that broadcasts against ``u[..., 0]`` (e.g. ``[P, 1]``
    for one value per candidate).
    """
    d = u.shape[-1]
    log_noise = torch.log1p(-torch.as_tensor(alpha_bar_0, dtype=torch.float64, device=u.device))
    return 0.5 * (alpha_bar_0 * (u * u).sum(-1) + d * (1 - alpha_bar_0) - d - d * log_noise)
