"""NoProp-CT's noise schedules in continuous time t in [0, 1]: noise at t = 0, label at t = 1.

q(z_t | y) = N(sqrt(alpha_bar(t)) u_y, (1 - alpha_bar(t)) I), SNR(t) = alpha_bar / (1 - alpha_bar),
and the diffusion loss weights each sample by SNR'(t) = dSNR/dt (the continuous limit of
DT's T (SNR(t) - SNR(t - 1))).

- ``cosine``: NoProp-DT's schedule read at continuous t, alpha_bar(t) = f(1 - t) / f(0)
  with f(s) = cos^2((s + 0.008) / 1.008 * pi / 2), clamped to [1e-4, 1 - 1e-4]; at
  t = k / T it equals the DT schedule's alpha_bar_k. SNR' is 0 where the clamp holds.
  No parameters.
- ``learned``: the paper's trainable schedule, as in variational diffusion models:
  alpha_bar(t) = sigmoid(-gamma(t)), gamma(t) = gamma_0 + (gamma_1 - gamma_0) (1 - gamma_bar(t)),
  where gamma_bar rises from 0 to 1: a monotone network normalised by its end values,
  g(t) = softplus(a) t + sum_j softplus(w3_j) sigmoid(softplus(w2_j) t + b2_j),
  gamma_bar(t) = (g(t) - g(0)) / (g(1) - g(0)), and gamma_1 = gamma_0 + softplus(r).
  Every parameter vector gives a schedule that increases strictly from noise to label.
  Parameters ``[3 * hidden + 3]``: a, w2 ``[hidden]``, b2 ``[hidden]``, w3 ``[hidden]``,
  gamma_0, r; they start at gamma_0 = -7, gamma_1 = 7 (alpha_bar from 9e-4 to 0.9991) and
  gamma_bar close to t.

Both give alpha_bar and SNR' in float64 for ``params [P, dim]`` and times ``t [N]``: ``[N]``
where the schedule has no parameters, else ``[P, N]``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from optsuite.crn import generator
from optsuite.errors import UserError

from .noprop_schedule import CLAMP

COSINE_OFFSET = 0.008
GAMMA_0, GAMMA_1 = -7.0, 7.0  # initial gamma at t = 1 (label) and t = 0 (noise)
LEARNED_HIDDEN = 16
SCHEDULES = ("learned", "cosine")


def inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class CosineSchedule:
    """alpha_bar(t) = f(1 - t) / f(0), clamped; no parameters."""

    dim = 0

    def initial(self, seed: int) -> torch.Tensor:
        return torch.zeros(0)

    def unclamped(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha_bar, d alpha_bar / dt) before the clamp, ``[N]`` float64."""
        s, f0 = COSINE_OFFSET, math.cos(COSINE_OFFSET / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        theta = (1 - t.double() + s) / (1 + s) * math.pi / 2
        return torch.cos(theta) ** 2 / f0, torch.sin(2 * theta) * math.pi / (2 * (1 + s)) / f0

    def alpha_bar(self, params: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unclamped(t)[0].clamp(CLAMP, 1 - CLAMP)

    def snr_prime(self, params: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab, slope = self.unclamped(t)
        inside = (ab > CLAMP) & (ab < 1 - CLAMP)
        ab = ab.clamp(CLAMP, 1 - CLAMP)
        return torch.where(inside, slope / (1 - ab) ** 2, torch.zeros_like(ab))


class LearnedSchedule:
    """The monotone gamma network above; parameters ``[P, 3 * hidden + 3]``."""

    def __init__(self, hidden: int = LEARNED_HIDDEN) -> None:
        self.hidden = hidden
        self.dim = 3 * hidden + 3

    def initial(self, seed: int) -> torch.Tensor:
        """``[dim]`` float32: softplus(a) = 1, w2, b2 ~ N(0, 1), softplus(w3) ~ 0.02, gamma_0 = -7, gamma_1 = 7."""
        g, h = generator(seed, "learned-schedule"), self.hidden
        a = torch.tensor([inverse_softplus(1.0)])
        w2, b2 = torch.randn(h, generator=g), torch.randn(h, generator=g)
        w3 = torch.full((h,), -4.0)
        ends = torch.tensor([GAMMA_0, inverse_softplus(GAMMA_1 - GAMMA_0)])
        return torch.cat([a, w2, b2, w3, ends])

    def parts(self, params: torch.Tensor):
        """``params [P, dim]`` -> (softplus(a) ``[P, 1]``, softplus(w2), b2, softplus(w3) ``[P, hidden]``,
        gamma_0 ``[P, 1]``, gamma_1 - gamma_0 ``[P, 1]``), in float64."""
        p, h = params.double(), self.hidden
        a, w2, b2, w3, g0, r = torch.split(p, [1, h, h, h, 1, 1], dim=-1)
        return F.softplus(a), F.softplus(w2), b2, F.softplus(w3), g0, F.softplus(r)

    def monotone(self, params: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(g(t), g'(t)), each ``[P, N]``, for ``t [N]``."""
        a, w2, b2, w3, _, _ = self.parts(params)
        t = t.double().to(params.device)
        s = torch.sigmoid(w2[:, None, :] * t[None, :, None] + b2[:, None, :])  # [P, N, hidden]
        g = a * t + (w3[:, None, :] * s).sum(-1)
        slope = a + (w3[:, None, :] * w2[:, None, :] * s * (1 - s)).sum(-1)
        return g, slope

    def gamma(self, params: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gamma(t), gamma'(t)), each ``[P, N]``: gamma falls from gamma_1 at t = 0 to gamma_0 at t = 1."""
        _, _, _, _, g0, span = self.parts(params)
        ends, _ = self.monotone(params, torch.tensor([0.0, 1.0], dtype=torch.float64))
        g, slope = self.monotone(params, t)
        height = ends[:, 1:] - ends[:, :1]
        return g0 + span * (1 - (g - ends[:, :1]) / height), -span * slope / height

    def alpha_bar(self, params: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(-self.gamma(params, t)[0])

    def snr_prime(self, params: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """SNR'(t) = -gamma'(t) exp(-gamma(t)) ``[P, N]``, positive."""
        gamma, slope = self.gamma(params, t)
        return -slope * torch.exp(-gamma)


def make_schedule(kind: str, problem: str) -> CosineSchedule | LearnedSchedule:
    if kind == "learned":
        return LearnedSchedule()
    if kind == "cosine":
        return CosineSchedule()
    raise UserError(f"problem {problem!r}: schedule {kind!r} unknown; known: {', '.join(SCHEDULES)}")

