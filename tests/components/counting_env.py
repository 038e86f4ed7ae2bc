"""A test task whose observation is the step index within the episode, with a per-seed episode length.

Lanes made from different seeds end their episodes at different times, so a batch holds lanes that
restart while others run on.
"""

from __future__ import annotations

import dm_env
import numpy as np
from dm_env import specs


class CountingEnv(dm_env.Environment):
    def __init__(self, seed: int = 0) -> None:
        self._length = 3 + seed % 4
        self._t = -1

    def reset(self) -> dm_env.TimeStep:
        self._t = 0
        return dm_env.restart(np.array([0.0], np.float32))

    def step(self, action) -> dm_env.TimeStep:
        if self._t < 0 or self._t >= self._length:
            return self.reset()
        self._t += 1
        observation = np.array([float(self._t)], np.float32)
        return dm_env.termination(0.0, observation) if self._t == self._length else dm_env.transition(0.0, observation)

    def observation_spec(self):
        return specs.Array((1,), np.float32, "step_index")

    def action_spec(self):
        return specs.DiscreteArray(2, name="action")


def make_counting_env(seed: int = 0) -> CountingEnv:
    return CountingEnv(seed)
