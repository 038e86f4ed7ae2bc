"""Names shared by the torso, the configs and the action masks (torch-free, so configs can check them)."""

from __future__ import annotations

from typing import Sequence

from environments.spec_checks import MASK_KEY  # Skipped by the torso unless an override names it.

__all__ = ["ENCODER_KINDS", "MASK_KEY", "leaf_name", "parse_encoder_overrides"]

ENCODER_KINDS = ("auto", "conv", "mlp", "onehot", "skip")


def leaf_name(path: Sequence[object]) -> str:
    """A nested observation leaf's name: its dm-tree path joined with '/' ('image', 'sensors/0')."""
    return "/".join(str(part) for part in path)


def parse_encoder_overrides(entries: Sequence[str]) -> dict[str, str]:
    """Per-key encoder choices from 'key:kind' entries (e.g. 'image:conv', 'action_mask:mlp')."""
    overrides: dict[str, str] = {}
    for entry in entries:
        key, sep, kind = str(entry).rpartition(":")
        if not sep or not key or kind not in ENCODER_KINDS:
            raise ValueError(f"observation_encoders entries are 'key:kind' with kind one of {ENCODER_KINDS}; "
                             f"got {entry!r}.")
        overrides[key] = kind
    return overrides
