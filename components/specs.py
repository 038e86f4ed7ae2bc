"""What an environment takes and gives: its observation, action, reward and discount specs."""

from __future__ import annotations

from typing import Any, NamedTuple

import dm_env


class EnvironmentSpec(NamedTuple):
    """The specs of one environment lane (no batch axis)."""

    observations: Any
    actions: Any
    rewards: Any
    discounts: Any


def make_environment_spec(environment: dm_env.Environment) -> EnvironmentSpec:
    """Reads the four specs of an environment (plain or batched: both give per-lane specs)."""
    return EnvironmentSpec(
        observations=environment.observation_spec(),
        actions=environment.action_spec(),
        rewards=environment.reward_spec(),
        discounts=environment.discount_spec(),
    )
