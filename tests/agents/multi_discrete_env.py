"""A multi-discrete task for tests: copy the shown target, one value per action dimension.

Each step shows targets for the action's dimensions (one-hot each, concatenated) and pays the fraction of
dimensions the action matches; episodes last `length` steps. The action spec is an integer BoundedArray:
gymnasium's MultiDiscrete with `sizes` (values from `start`), or MultiBinary when every size is 2 and
start is 0. A policy that reads the targets scores `length`; uniform guessing scores the mean of 1/size.
"""

from __future__ import annotations

import numpy as np
from dm_env import specs

from tests.agents.episodic_task import FixedLengthTask


class CopyTheTargets(FixedLengthTask):
    def __init__(self, seed: int = 0, sizes: tuple[int, ...] = (3, 4), start: int = 1, length: int = 4) -> None:
        super().__init__(seed, length)
        self._sizes, self._start = np.asarray(sizes), start
        self._targets = np.zeros(len(sizes), np.int64)

    def observe(self, final: bool = False) -> np.ndarray:
        self._targets = self._rng.integers(0, self._sizes)
        observation = np.zeros(int(self._sizes.sum()), np.float32)
        observation[np.concatenate([[0], np.cumsum(self._sizes)[:-1]]) + self._targets] = 1.0
        return observation

    def reward(self, action) -> float:
        action = np.asarray(action)
        assert action.shape == self._sizes.shape, action
        return float(np.mean(action - self._start == self._targets))

    def observation_spec(self):
        return specs.Array((int(self._sizes.sum()),), np.float32, "targets")

    def action_spec(self):
        binary = self._start == 0 and (self._sizes == 2).all()
        dtype = np.int8 if binary else np.int64
        return specs.BoundedArray(self._sizes.shape, dtype, self._start, self._start + self._sizes - 1, "choice")


def make_multi_discrete_task(seed: int = 0) -> CopyTheTargets:
    return CopyTheTargets(seed)


def make_multi_binary_task(seed: int = 0) -> CopyTheTargets:
    return CopyTheTargets(seed, sizes=(2, 2, 2), start=0)
