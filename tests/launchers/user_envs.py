"""Environments written as a user would write them, for tests of what happens when they misbehave."""

from __future__ import annotations

import dm_env
import numpy as np
from dm_env import specs


class _Simple(dm_env.Environment):
    def __init__(self, length: int | None = None) -> None:
        self.length, self.t = length, 0

    def reset(self) -> dm_env.TimeStep:
        self.t = 0
        return dm_env.restart(np.zeros(2, np.float32))

    def step(self, action) -> dm_env.TimeStep:
        if self.length is not None and self.t >= self.length:
            return self.reset()
        self.t += 1
        observation = np.array([self.t, 1.0], np.float32)
        if self.length is not None and self.t >= self.length:
            return dm_env.termination(1.0, observation)
        return dm_env.transition(1.0, observation)

    def observation_spec(self):
        return specs.Array((2,), np.float32, "observation")

    def action_spec(self):
        return specs.DiscreteArray(2, name="action")


class NeverEnds(_Simple):
    """No time limit: every step is MID."""


class Corridor(_Simple):
    """Episodes of `length` steps, each paying 1."""


class Broken(_Simple):
    """step() raises an IndexError (a bug in the user's code) on call `fail_at`."""

    def __init__(self, fail_at: int) -> None:
        super().__init__(None)
        self.fail_at, self.calls = fail_at, 0

    def step(self, action) -> dm_env.TimeStep:
        self.calls += 1
        if self.calls == self.fail_at:
            return [][self.calls]
        return super().step(action)


class PaintsBadly(_Simple):
    def render(self):
        raise KeyError("palette")


def make_never_ending(seed: int = 0) -> NeverEnds:
    return NeverEnds()


def make_corridor(seed: int = 0, length: int = 5) -> Corridor:
    return Corridor(length)


def make_broken(seed: int = 0, fail_at: int = 3) -> Broken:
    return Broken(fail_at)


def make_painter(seed: int = 0) -> PaintsBadly:
    return PaintsBadly()
