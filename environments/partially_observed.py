"""Partially observed classic-control tasks: gymnasium ids whose observations hide the velocities.

`CartPoleNoVel-v1` and `PendulumNoVel-v1` are RL-Zoo's memory benchmarks: the base task with its velocity
entries set to 0 (the observation keeps its shape and bounds, so a feed-forward agent sees positions only
and must infer motion from the past). Importing `environments` registers them, so `gym:CartPoleNoVel-v1`
works in every launcher and `gymnasium.make("CartPoleNoVel-v1")` in user code.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium
import numpy as np

# Base id -> indices of its observation that are velocities (RL-Zoo's MaskVelocityWrapper table).
VELOCITY_INDICES: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (1, 3),  # cart velocity, pole angular velocity
    "Pendulum-v1": (2,),  # angular velocity
}


class MaskVelocity(gymnasium.ObservationWrapper):
    """Sets the observation entries at `indices` to 0."""

    def __init__(self, env: gymnasium.Env, indices: Sequence[int]) -> None:
        super().__init__(env)
        size = int(np.prod(env.observation_space.shape))
        bad = [i for i in indices if not 0 <= i < size]
        if bad:
            raise ValueError(f"MaskVelocity indices {bad} are outside the observation of size {size}.")
        self._mask = np.ones(env.observation_space.shape, dtype=env.observation_space.dtype)
        self._mask[list(indices)] = 0

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation * self._mask


def make_no_velocity(base_id: str, **kwargs: Any) -> gymnasium.Env:
    """`gymnasium.make(base_id, **kwargs)` with its velocities masked (the entry point of the NoVel ids)."""
    return MaskVelocity(gymnasium.make(base_id, **kwargs), VELOCITY_INDICES[base_id])


def no_velocity_id(base_id: str) -> str:
    name, version = base_id.split("-v")
    return f"{name}NoVel-v{version}"


def register_no_velocity_tasks() -> None:
    """Registers `<Name>NoVel-v<N>` for every base id in VELOCITY_INDICES (once per process)."""
    for base_id in VELOCITY_INDICES:
        new_id = no_velocity_id(base_id)
        if new_id not in gymnasium.registry:
            gymnasium.register(id=new_id, entry_point=make_no_velocity, kwargs={"base_id": base_id})
