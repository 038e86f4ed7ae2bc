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
    `probabilities` are the sampling probabilities P(i), from which the learner
    computes importance weights (`components.prioritized_replay.importance_weights`)
    with the beta of its own, checkpointed, step count.
    """

    data: Any
    keys: Any
    probabilities: Any


class Trajectory(NamedTuple):
    """T consecutive steps of one lane plus the bootstrap observation (time-major within the item).

    observation: (T+1, ...) o_0 .. o_T; o_T is the bootstrap observation and the
      next trajectory's o_0.
    action: (T, ...) a_t chosen at o_t.
    reward: (T,) r_{t+1}, the reward of the step that followed a_t.
    discount: (T,) d_{t+1}, the environment's discount of that step (no gamma).
    step_type: (T+1,) dm_env step types of o_0 .. o_T.
    extras: (T, ...) what the policy reported at o_t (log-prob, value, raw action).

    With agentpipe's lane semantics, a_t was ignored when o_t is a LAST
    observation (the lane restarted): such steps must be masked out of losses
    (`step_type[t] != LAST`), and returns must not run across them.
    """

    observation: Any
    action: Any
    reward: Any
    discount: Any
    step_type: Any
    extras: Any = ()


class PolicyOutput(NamedTuple):
    """What a stochastic policy returns: the actions for the environment and extras for the adder."""

    action: Any
    extras: Any = ()
