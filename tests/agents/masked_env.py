"""A task with an action mask, for tests: each step allows a random non-empty subset of 4 actions.

The observation is {"features": zeros (2,), "action_mask": int8 (4,)}. The highest allowed action pays 1,
another allowed one 0, and a masked one raises (so a test fails the moment an agent takes one). Episodes
last `length` steps, and the last observation allows nothing (it is never acted on). The best policy
prefers 3 > 2 > 1 > 0 and scores `length`; uniform choice among the allowed actions scores about half.
"""

from __future__ import annotations

import numpy as np
from dm_env import specs

from tests.agents.episodic_task import FixedLengthTask

NUM_ACTIONS = 4


class MaskedAction(ValueError):
    """The agent took an action the mask did not allow."""


class HighestAllowed(FixedLengthTask):
    def __init__(self, seed: int = 0, length: int = 5) -> None:
        super().__init__(seed, length)
        self._mask = np.zeros(NUM_ACTIONS, np.int8)
        self.actions_taken = 0

    def observe(self, final: bool = False) -> dict[str, np.ndarray]:
        mask = np.zeros(NUM_ACTIONS, np.int8)
        if not final:
            while not mask.any():
                mask = (self._rng.random(NUM_ACTIONS) < 0.5).astype(np.int8)
        self._mask = mask
        return {"features": np.zeros(2, np.float32), "action_mask": mask.copy()}

    def reward(self, action) -> float:
        action = int(np.asarray(action).reshape(-1)[0])
        if not self._mask[action]:
            raise MaskedAction(f"action {action} was masked: mask {self._mask.tolist()}")
        self.actions_taken += 1
        return 1.0 if action == int(np.flatnonzero(self._mask)[-1]) else 0.0

    def observation_spec(self):
        return {"features": specs.Array((2,), np.float32, "features"),
                "action_mask": specs.BoundedArray((NUM_ACTIONS,), np.int8, 0, 1, "action_mask")}

    def action_spec(self):
        return specs.DiscreteArray(NUM_ACTIONS, name="choice")


def make_masked_task(seed: int = 0) -> HighestAllowed:
    return HighestAllowed(seed)
