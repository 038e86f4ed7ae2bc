"""A tiny continuous-control task for learning tests: point at a target.

Each step shows a target x in [-1, 1]; the action a in [-2, 2] earns
-(a - 1.5 x)^2. Episodes last 10 steps (truncated, discount 1). A Gaussian
policy that learns a = 1.5 x scores 0; a random one about -1.8 per step.
"""

from __future__ import annotations

import dm_env
import numpy as np
from dm_env import specs


class PointerEnv(dm_env.Environment):
    def __init__(self, seed: int = 0, length: int = 10) -> None:
        self._rng = np.random.default_rng(seed)
        self._length = length
        self._t = 0
        self._target = 0.0

    def _observation(self) -> np.ndarray:
        self._target = float(self._rng.uniform(-1.0, 1.0))
        return np.array([self._target], np.float32)

    def reset(self) -> dm_env.TimeStep:
        self._t = 0
        return dm_env.restart(self._observation())

    def step(self, action) -> dm_env.TimeStep:
        if self._t >= self._length:  # dm_env: the step after the last one starts a new episode.
            return self.reset()
        reward = -float((float(np.asarray(action).reshape(-1)[0]) - 1.5 * self._target) ** 2)
        self._t += 1
        observation = self._observation()
        if self._t >= self._length:
            return dm_env.truncation(reward, observation)
        return dm_env.transition(reward, observation)

    def observation_spec(self):
        return specs.Array((1,), np.float32, "target")

    def action_spec(self):
        return specs.BoundedArray((1,), np.float32, -2.0, 2.0, "pointer")


def make_pointer(seed: int = 0) -> PointerEnv:
    return PointerEnv(seed)
