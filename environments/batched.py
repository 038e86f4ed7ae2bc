"""Batched environments: N lanes stepped together, each lane a valid dm_env sequence.

A batched timestep holds arrays with a leading lane axis: `step_type` (N,),
`reward` (N,), `discount` (N,) and observations (N, ...). What a lane does when
its episode ends is `environments.auto_reset`'s rule, the same on every backend:
its LAST carries the final observation (discount 0 if terminated, 1 if
truncated), and its next `step` restarts it (action ignored) and reports FIRST
with reward 0 and discount 1, so callers never call `reset` mid-run. Specs are
per lane.

A lane environment may define `episode_info() -> dict[str, float]`: extra
values about the episode that just ended (Atari's raw game score, say), asked
for right after its LAST and logged beside the episode's return.
"""

from __future__ import annotations

import abc
from typing import Callable, Sequence

import dm_env
import numpy as np
import tree

from environments import nests
from environments.auto_reset import LaneResets, stack_timesteps


class BatchedEnvironment(dm_env.Environment):
    """An environment of `num_lanes` lanes with per-lane specs and batched timesteps."""

    @property
    @abc.abstractmethod
    def num_lanes(self) -> int:
        """How many lanes step together."""

    def episode_info(self, lane: int) -> dict[str, float]:
        """Extra values about the episode that just ended in `lane` (none by default)."""
        return {}


class SyncBatchedEnvironment(BatchedEnvironment):
    """Steps N in-process environments one after another: right for cheap environments."""

    def __init__(self, environments: Sequence[dm_env.Environment]) -> None:
        if not environments:
            raise ValueError("SyncBatchedEnvironment needs at least one environment.")
        self._envs = list(environments)
        first = self._envs[0]
        for i, env in enumerate(self._envs[1:], start=1):
            if env.observation_spec() != first.observation_spec() or env.action_spec() != first.action_spec():
                raise ValueError(
                    f"Lane {i} has specs {env.observation_spec()!r} / {env.action_spec()!r}, "
                    f"lane 0 has {first.observation_spec()!r} / {first.action_spec()!r}: all lanes must match."
                )
        self._reward_dtype = np.dtype(first.reward_spec().dtype)
        self._discount_dtype = np.dtype(first.discount_spec().dtype)
        self._resets = LaneResets(len(self._envs))

    @classmethod
    def from_factory(cls, factory: Callable[[int], dm_env.Environment], num_lanes: int, seed: int = 0) -> "SyncBatchedEnvironment":
        """Builds lane i with `factory(seed + i)`."""
        return cls([factory(seed + i) for i in range(num_lanes)])

    @property
    def num_lanes(self) -> int:
        return len(self._envs)

    @property
    def lanes(self) -> list[dm_env.Environment]:
        return list(self._envs)

    def reset(self) -> dm_env.TimeStep:
        steps = [env.reset() for env in self._envs]
        self._resets.reset_all()
        return stack_timesteps(steps, self._reward_dtype, self._discount_dtype)

    def step(self, action) -> dm_env.TimeStep:
        leaf = tree.flatten(action)[0]
        if np.ndim(leaf) == 0 or len(leaf) != len(self._envs):
            raise ValueError(f"Expected a batch of {len(self._envs)} actions (one per lane), got {action!r}.")
        flat = isinstance(action, np.ndarray)
        steps = [env.reset() if restart else env.step(action[i] if flat else nests.map_structure(
                     lambda a: a[i], action)) for i, (env, restart) in enumerate(zip(self._envs, self._resets.restarting()))]
        self._resets.record([step.step_type for step in steps])
        return stack_timesteps(steps, self._reward_dtype, self._discount_dtype)

    def observation_spec(self):
        return self._envs[0].observation_spec()

    def action_spec(self):
        return self._envs[0].action_spec()

    def reward_spec(self):
        return self._envs[0].reward_spec()

    def discount_spec(self):
        return self._envs[0].discount_spec()

    def episode_info(self, lane: int) -> dict[str, float]:
        info = getattr(self._envs[lane], "episode_info", None)
        return dict(info()) if callable(info) else {}

    def render(self):
        """Renders lane 0."""
        return self._envs[0].render()

    def close(self) -> None:
        for env in self._envs:
            env.close()


def as_batched(environment: dm_env.Environment) -> BatchedEnvironment:
    """A batched environment as it is; a plain one as a batch of one lane."""
    if isinstance(environment, BatchedEnvironment):
        return environment
    return SyncBatchedEnvironment([environment])
