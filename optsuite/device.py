"""Which device to compute on, checked once for the whole suite."""
from __future__ import annotations

import platform

import torch

from .errors import UserError


def resolve_device(name: str | None) -> torch.device:
    """``name``, or CUDA when available else the CPU; an unusable name is a one-line UserError."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but torch sees no CUDA device")
    return device


def device_name(device: torch.device) -> str:
    """A readable name: the GPU's model, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
