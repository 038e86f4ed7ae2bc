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


class PrioritizedSample(NamedTuple):
    """A batch from a prioritized replay: the items plus what the learner needs to correct and update.

    `keys` identify the sampled slots for `update_priorities(keys, priorities)`;
    `probabilities` are the sampling probabilities P(i); `weights` are the
    importance-sampling weights (N * P(i))**-beta divided by their maximum, so
    they only ever scale a loss down.
    """

    data: Any
    keys: Any
    probabilities: Any
    weights: Any
