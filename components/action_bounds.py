"""Continuous actions between a spec's bounds and the [-1, 1] that tanh policies work in, in one place.

Policies of the off-policy continuous agents act in [-1, 1]; `ActionBounds.to_env` maps their actions into
the spec's [minimum, maximum] for the environment (and replay), and `to_unit` maps stored actions back for
the learner. `action_kind` names what kind of action spec an environment has, for checking that an agent
fits it.
"""

from __future__ import annotations

import numpy as np
import torch
from dm_env import specs

ACTION_KINDS = ("discrete", "bounded", "unbounded")


def action_kind(action_spec) -> str:
    """'discrete' (a DiscreteArray), 'multi_discrete' (an integer BoundedArray vector: MultiDiscrete,
    MultiBinary), 'bounded' (a float vector with finite bounds), 'unbounded' (a float vector without them),
    or 'other' (nested, several axes, unbounded integers)."""
    if isinstance(action_spec, specs.DiscreteArray):
        return "discrete"
    if (isinstance(action_spec, specs.BoundedArray) and len(action_spec.shape) == 1
            and (np.issubdtype(action_spec.dtype, np.integer) or action_spec.dtype == np.bool_)):
        return "multi_discrete"
    if not isinstance(action_spec, specs.Array) or not np.issubdtype(action_spec.dtype, np.floating):
        return "other"
    if len(action_spec.shape) != 1:
        return "other"
    if isinstance(action_spec, specs.BoundedArray) and np.isfinite(action_spec.minimum).all() \
            and np.isfinite(action_spec.maximum).all():
        return "bounded"
    return "unbounded"


class ActionBounds:
    """The affine map between a bounded float action spec of shape (k,) and [-1, 1]^k, per dimension."""

    def __init__(self, action_spec: specs.BoundedArray) -> None:
        if action_kind(action_spec) != "bounded":
            raise TypeError(f"Expected a float BoundedArray action spec of shape (k,) with finite bounds, got "
                            f"{action_spec!r}.")
        low = np.broadcast_to(action_spec.minimum, action_spec.shape).astype(np.float32)
        high = np.broadcast_to(action_spec.maximum, action_spec.shape).astype(np.float32)
        if not (low < high).all():
            raise ValueError(f"Every action dimension needs minimum < maximum, got {low} and {high}.")
        self.size = int(action_spec.shape[0])
        self.dtype = np.dtype(action_spec.dtype)
        self._middle, self._half_range = (high + low) / 2, (high - low) / 2
        self._tensors: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def to_env(self, unit: np.ndarray) -> np.ndarray:
        """Actions in [-1, 1] (clipped there first) -> the spec's bounds and dtype; any leading batch axes."""
        return (self._middle + self._half_range * np.clip(unit, -1.0, 1.0)).astype(self.dtype, copy=False)

    def to_unit(self, action: torch.Tensor) -> torch.Tensor:
        """Actions in the spec's bounds -> [-1, 1], as float32 tensors on the actions' device."""
        if action.device not in self._tensors:
            self._tensors[action.device] = (torch.as_tensor(self._middle, device=action.device),
                                            torch.as_tensor(self._half_range, device=action.device))
        middle, half_range = self._tensors[action.device]
        return ((action.float() - middle) / half_range).clamp_(-1.0, 1.0)
