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


class SequenceItem(NamedTuple):
    """L consecutive steps of one lane's episode, its bootstrap observation, and the core state it began in.

    observation: (L+1, ...) o_0 .. o_L; after an episode's LAST observation, zeros.
    action: (L, ...) a_t chosen at o_t.
    reward: (L,) r_{t+1}; discount: (L,) d_{t+1}, the environment's (no gamma).
    step_type: (L+1,) int8 step types of o_0 .. o_L (padding: LAST).
    mask: (L,) float32, 1 for the steps the lane took, 0 for the padding after its episode ended.
    core_state: (S,) float32, the actor's recurrent state before it processed o_0 (reset there when o_0
      is FIRST).

    A sequence never runs past a LAST: the steps after it are padding, and the next episode starts
    a new sequence.
    """

    observation: Any
    action: Any
    reward: Any
    discount: Any
    step_type: Any
    mask: Any
    core_state: Any


def sequence_spec(environment_spec: Any, length: int, core_state_size: int) -> SequenceItem:
    """The spec of one `SequenceItem` of `length` steps (used to size replay)."""
    from dm_env import specs  # Local: keep this module a leaf of plain NamedTuples.
    import numpy as np

    def over_time(spec: Any, steps: int) -> Any:  # Leaf by leaf for a dict observation.
        if not isinstance(spec, specs.Array):
            import tree
            return tree.map_structure(lambda leaf: over_time(leaf, steps), spec)
        return specs.Array((steps, *spec.shape), spec.dtype, spec.name)

    return SequenceItem(
        observation=over_time(environment_spec.observations, length + 1),
        action=over_time(environment_spec.actions, length),
        reward=specs.Array((length,), np.float32, "reward"),
        discount=specs.Array((length,), np.float32, "discount"),
        step_type=specs.Array((length + 1,), np.int8, "step_type"),
        mask=specs.Array((length,), np.float32, "mask"),
        core_state=specs.Array((core_state_size,), np.float32, "core_state"),
    )
