"""Action masks: a 0/1 `action_mask` key in a dict observation marks the discrete actions allowed now.

Networks apply it to what they output (`mask_values`): a masked action's Q value becomes the dtype's
lowest and its logit `MASKED_LOGIT`, so argmax, max and softmax never pick it, when acting, evaluating
or in a learner's targets. Exploring policies draw among the allowed actions (`random_allowed`).
`check_action_mask` checks the spec when a network is built; the environment checks
(environments.validation) refuse a FIRST or MID step whose mask allows nothing. The torso skips the
key unless `observation_encoders` names it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from dm_env import specs

from components.action_bounds import action_kind
from components.observation_keys import MASK_KEY

MASKED_LOGIT = -1e9  # exp() of it is exactly 0 in float32, and 0 * it is 0: entropies stay finite.


def mask_of(observation: Any) -> Any:
    """The observation's `action_mask` (None when it has none)."""
    return observation.get(MASK_KEY) if isinstance(observation, Mapping) else None


def allowed_actions(mask: Any, device: torch.device | str) -> torch.Tensor:
    """The mask as booleans (..., actions). A row that allows nothing (a LAST step's, which is never acted on:
    the environment checks refuse it elsewhere) is left unmasked, so targets bootstrapped from it (times a
    discount of 0) stay finite."""
    allowed = torch.as_tensor(mask, device=device).bool()
    return allowed | ~allowed.any(dim=-1, keepdim=True)


def mask_values(values: torch.Tensor, observation: Any, fill: float | None = None) -> torch.Tensor:
    """`values` (..., actions[, atoms]) with masked actions' entries set to `fill` (default: the dtype's lowest)."""
    mask = mask_of(observation)
    if mask is None:
        return values
    allowed = allowed_actions(mask, values.device)
    while allowed.dim() < values.dim():  # Per-atom outputs (C51) share their action's mask.
        allowed = allowed.unsqueeze(-1)
    return values.masked_fill(~allowed, torch.finfo(values.dtype).min if fill is None else fill)


def check_action_mask(spec: Any) -> None:
    """Raises when the observation's `action_mask` does not fit the action spec (one 0/1 entry per action)."""
    observations, actions = spec.observations, spec.actions
    if not isinstance(observations, Mapping) or MASK_KEY not in observations:
        return
    mask = observations[MASK_KEY]
    kind = action_kind(actions)
    if kind not in ("discrete", "multi_discrete"):
        raise ValueError(f"Observation key {MASK_KEY!r} ({mask!r}) masks discrete actions, but the action spec "
                         f"is {actions!r}.")
    if kind == "discrete":
        expected, what = (int(actions.num_values),), "one 0/1 entry per action"
    else:  # One mask per dimension, concatenated.
        sizes = np.broadcast_to(actions.maximum, actions.shape) - np.broadcast_to(actions.minimum, actions.shape) + 1
        expected, what = (int(sizes.sum()),), f"the masks of the {len(sizes)} dimensions ({sizes.tolist()}) concatenated"
    if tuple(mask.shape) != expected:
        raise ValueError(f"Observation key {MASK_KEY!r} has spec {mask!r}: expected shape {expected}, {what} "
                         f"of {actions!r}.")


def random_allowed(rng: np.random.Generator, num_actions: int, num_lanes: int, mask: Any) -> np.ndarray:
    """One uniformly random action per lane, among the allowed ones when there is a mask."""
    if mask is None:
        return rng.integers(0, num_actions, num_lanes)
    scores = (1.0 + rng.random((num_lanes, num_actions))) * (np.asarray(mask) != 0)  # Allowed: [1, 2); masked: 0.
    return np.argmax(scores, axis=-1)
