"""A tiny memory task for learning tests: remember the first observation.

The first observation shows a cue, -1 or +1, in its first entry; the next `delay` - 1 show zeros; then a
query (second entry 1) asks for it: action 1 for +1, action 0 for -1, which pays 1 (else 0) and ends the
episode. Actions before the query do nothing. A policy that remembers the cue scores 1 per episode; one
that sees only the current observation (feed-forward) can do no better than 0.5 on average.
"""

from __future__ import annotations

import dm_env
import numpy as np
from dm_env import specs


class RememberTheCue(dm_env.Environment):
    def __init__(self, seed: int = 0, delay: int = 3) -> None:
        self._rng = np.random.default_rng(seed)
        self._delay = delay
        self._t = 0
        self._cue = 0
        self._done = True

    def reset(self) -> dm_env.TimeStep:
        self._t, self._done = 0, False
        self._cue = int(self._rng.integers(0, 2))
        return dm_env.restart(np.array([2.0 * self._cue - 1.0, 0.0], np.float32))

    def step(self, action) -> dm_env.TimeStep:
        if self._done:  # dm_env: the step after the last one starts a new episode.
            return self.reset()
        if self._t == self._delay:
            self._done = True
            reward = 1.0 if int(np.asarray(action).reshape(-1)[0]) == self._cue else 0.0
            return dm_env.termination(reward, np.zeros(2, np.float32))
        self._t += 1
        query = 1.0 if self._t == self._delay else 0.0
        return dm_env.transition(0.0, np.array([0.0, query], np.float32))

    def observation_spec(self):
        return specs.Array((2,), np.float32, "cue_and_query")

    def action_spec(self):
        return specs.DiscreteArray(2, name="answer")


def make_memory_task(seed: int = 0) -> RememberTheCue:
    return RememberTheCue(seed)
