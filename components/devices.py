"""Device selection: `auto` means CUDA when present, else CPU."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """Maps 'auto' / 'cpu' / 'cuda' / 'cuda:N' to a torch.device, failing clearly when CUDA is absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device={name} was asked for, but this machine has no CUDA device; use auto or cpu.")
        return torch.device(name)
    raise ValueError(f"Unknown device {name!r}; expected one of {', '.join(DEVICE_CHOICES)} (or cuda:N).")
