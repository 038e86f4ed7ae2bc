"""A dict-observation task for tests: the best action needs both keys.

Each step shows an `image` (uint8, 1 x 3 x 3) with one lit cell in the left or the right column, and a
`flip` bit (a DiscreteArray of 2). Action `side XOR flip` pays 1, the other 0; episodes last `length`
steps. A policy that reads both keys scores `length`; one that reads only one key scores half of it.

`continuous=True` asks for an action in [-1, 1] instead: 1 - |action - target| / 2 pays, with target -1 for
answer 0 and +1 for answer 1; without both keys every action scores half of `length` on average.
"""

from __future__ import annotations

import numpy as np
from dm_env import specs

from tests.agents.episodic_task import FixedLengthTask


class SideAndFlip(FixedLengthTask):
    def __init__(self, seed: int = 0, length: int = 4, continuous: bool = False) -> None:
        super().__init__(seed, length)
        self._continuous = continuous
        self._answer = 0

    def observe(self, final: bool = False) -> dict[str, np.ndarray]:
        side, flip = (int(v) for v in self._rng.integers(0, 2, 2))
        row = int(self._rng.integers(0, 3))
        image = np.zeros((1, 3, 3), np.uint8)
        image[0, row, 2 * side] = 255
        self._answer = side ^ flip
        return {"image": image, "flip": np.int32(flip)}

    def reward(self, action) -> float:
        chosen = np.asarray(action).reshape(-1)[0]
        if self._continuous:
            return 1.0 - abs(float(np.clip(chosen, -1.0, 1.0)) - (2.0 * self._answer - 1.0)) / 2.0
        return 1.0 if int(chosen) == self._answer else 0.0

    def observation_spec(self):
        return {"image": specs.Array((1, 3, 3), np.uint8, "image"), "flip": specs.DiscreteArray(2, name="flip")}

    def action_spec(self):
        if self._continuous:
            return specs.BoundedArray((1,), np.float32, -1.0, 1.0, name="answer")
        return specs.DiscreteArray(2, name="answer")


def make_dict_task(seed: int = 0, continuous: bool = False) -> SideAndFlip:
    return SideAndFlip(seed, continuous=continuous)
