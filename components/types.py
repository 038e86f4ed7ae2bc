"""Small named types that travel between adders, replay and learners."""

from __future__ import annotations

from typing import Any, NamedTuple


class Transition(NamedTuple):
    """An n-step transition: (s_t, a_t, R_t^(n), gamma_t^(n), s_{t+n}), batched on axis 0.

    `reward` is the discounted sum of the m <= n rewards the adder saw and
    `discount` the full bootstrap factor prod_k (gamma * d_{t+k}) over those m
    steps: 0 after a termination, gamma**m times the environment's discounts
    otherwise. A learner's target is simply `reward + discount * V(next_observation)`.
    """

    observation: Any
    action: Any
    reward: Any
    discount: Any
    next_observation: Any
    extras: Any = ()


def transition_spec(environment_spec: Any, extras_spec: Any = ()) -> Transition:
    """The spec of one `Transition` item for an environment (used to size replay)."""
    from dm_env import specs  # Local: keep this module a leaf of plain NamedTuples.
    import numpy as np

    return Transition(
        observation=environment_spec.observations,
        action=environment_spec.actions,
        reward=specs.Array((), np.float32, "reward"),
        discount=specs.Array((), np.float32, "discount"),
        next_observation=environment_spec.observations,
        extras=extras_spec,
    )
