"""The episode bookkeeping the test tasks share: fixed-length episodes, a reward per action, dm_env resets."""

from __future__ import annotations

import abc
from typing import Any

import dm_env
import numpy as np


class FixedLengthTask(dm_env.Environment, abc.ABC):
    """Episodes of `length` steps; each step pays `reward(action)` for the observation shown before it.

    A subclass gives `observe(final)` (the next observation; `final` for the one a LAST step carries),
    `reward(action)` and its specs. The step after the last one starts a new episode, as dm_env says.
    """

    def __init__(self, seed: int = 0, length: int = 4) -> None:
        self._rng = np.random.default_rng(seed)
        self._length = length
        self._t = 0
        self._done = True

    @abc.abstractmethod
    def observe(self, final: bool = False) -> Any:
        """A new observation (and whatever the next reward depends on)."""

    @abc.abstractmethod
    def reward(self, action: Any) -> float:
        """What `action` earns against the observation shown last."""

    def reset(self) -> dm_env.TimeStep:
        self._t, self._done = 0, False
        return dm_env.restart(self.observe())

    def step(self, action) -> dm_env.TimeStep:
        if self._done:  # dm_env: the step after the last one starts a new episode (its action is ignored).
            return self.reset()
        reward = self.reward(action)
        self._t += 1
        if self._t == self._length:
            self._done = True
            return dm_env.termination(reward, self.observe(final=True))
        return dm_env.transition(reward, self.observe())
