"""The 'gym' backend: N gymnasium environments of one id stepped in process, batched without per-lane timesteps.

The same lanes as the 'sync' backend builds from `gym:<id>` (each lane a
`GymnasiumEnvironment` in `SinglePrecisionWrapper`), at about three quarters of
the cost per lane-step on cheap environments such as CartPole: observations go
straight from gymnasium into one single-precision batch, with the specs,
action conversion and episode ends of `environments.gym_adapter` and
`environments.auto_reset`. Like every backend's, its batches are checked by
`environments.validation.CheckedLanes` (the registry wraps it).

It takes any observation space the adapter maps (Box, Discrete, MultiDiscrete,
MultiBinary, and Dict/Tuple nests of them, batched leaf by leaf) and a Discrete,
Box, MultiDiscrete or MultiBinary action space. A Dict or Tuple action space
needs the sync backend.
"""

from __future__ import annotations

from typing import Any, Sequence

import dm_env
import gymnasium
import numpy as np
from dm_env import specs
from gymnasium import spaces

from environments.auto_reset import FIRST, LaneResets, lane_end
from environments.batched import BatchedEnvironment
from environments import nests
from environments.gym_adapter import DISCOUNT_SPEC, REWARD_SPEC, GymnasiumEnvironment, gym_actions, space_to_spec
from environments.spec_checks import EnvironmentSpecError
from environments.wrappers import narrow_spec


ACTION_SPACES = (spaces.Discrete, spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)


def unsupported_spaces(env: gymnasium.Env) -> str | None:
    """Why the gym backend cannot batch `env` (its spaces), or None when it can."""
    try:
        space_to_spec(env.observation_space)
    except (TypeError, ValueError) as error:
        return f"its observation space cannot be adapted ({error})"
    if not isinstance(env.action_space, ACTION_SPACES):
        return f"its action space is {env.action_space}, not one of {[s.__name__ for s in ACTION_SPACES]}"
    return None


class GymnasiumBatchedEnvironment(BatchedEnvironment):
    """Lanes of gymnasium environments with flat spaces, in single precision (see the module docstring).

    Lane i is seeded with `seed + i` on its first reset; later resets continue
    its RNG. Episode ends follow `environments.auto_reset`.
    """

    def __init__(self, environments: Sequence[gymnasium.Env], seed: int = 0, name: str | None = None) -> None:
        if not environments:
            raise ValueError("GymnasiumBatchedEnvironment needs at least one environment.")
        self._envs = list(environments)
        self._name = name or f"gym:{self._envs[0].spec.id if self._envs[0].spec else type(self._envs[0]).__name__}"
        for i, env in enumerate(self._envs):
            problem = unsupported_spaces(env)
            if problem:
                raise ValueError(f"The gym backend cannot batch {self._name!r}: {problem}. "
                                 "Use --env_backend=sync, which adapts any space.")
            if i and (env.observation_space != self._envs[0].observation_space
                      or env.action_space != self._envs[0].action_space):
                raise ValueError(f"{self._name!r}: lane {i} has spaces {env.observation_space} / {env.action_space}, "
                                 f"lane 0 has {self._envs[0].observation_space} / {self._envs[0].action_space}.")
        adapter = GymnasiumEnvironment(self._envs[0])  # The specs every gymnasium lane has.
        self._convert = None if isinstance(self._envs[0].observation_space, spaces.Box) else adapter.convert_observation
        self._observation_spec = nests.map_structure(narrow_spec, adapter.observation_spec())
        self._action_spec = narrow_spec(adapter.action_spec())
        self._reward_spec = narrow_spec(REWARD_SPEC)
        self._discount_spec = narrow_spec(DISCOUNT_SPEC)
        self._action_space = self._envs[0].action_space
        self._seeds: list[int | None] = [seed + i for i in range(len(self._envs))]
        self._resets = LaneResets(len(self._envs))

    @property
    def num_lanes(self) -> int:
        return len(self._envs)

    @property
    def gym_envs(self) -> list[gymnasium.Env]:
        return list(self._envs)

    def _new_batch(self) -> Any:
        return nests.map_structure(lambda spec: np.empty((self.num_lanes, *spec.shape), spec.dtype),
                                   self._observation_spec)

    def reset(self) -> dm_env.TimeStep:
        observations = self._new_batch()
        for lane in range(self.num_lanes):
            self._write(observations, lane, self._reset_lane(lane))
        self._resets.reset_all()
        n = self.num_lanes
        return dm_env.TimeStep(np.full(n, FIRST, np.int8), np.zeros(n, self._reward_spec.dtype),
                               np.ones(n, self._discount_spec.dtype), observations)

    def _reset_lane(self, lane: int) -> Any:
        seed, self._seeds[lane] = self._seeds[lane], None
        return self._envs[lane].reset(seed=seed)[0]

    def _write(self, observations: Any, lane: int, observation: Any) -> None:
        if self._convert is not None:  # A nest, or an integer space: leaf by leaf, through the adapter.
            try:
                nests.map_structure(lambda batch, leaf: batch.__setitem__(lane, leaf), observations,
                                    self._convert(observation))
                return
            except (TypeError, ValueError) as error:
                raise EnvironmentSpecError(
                    f"Environment {self._name!r}: lane {lane} gave an observation that does not fit its "
                    f"observation space {self._envs[lane].observation_space}: {error}") from None
        if getattr(observation, "shape", None) != observations.shape[1:]:
            raise EnvironmentSpecError(
                f"Environment {self._name!r}: lane {lane} gave an observation of shape {np.shape(observation)}; "
                f"its observation space is {self._envs[lane].observation_space}.")
        observations[lane] = observation

    def step(self, action: Any) -> dm_env.TimeStep:
        actions = gym_actions(self._action_space, np.asarray(action))
        n = self.num_lanes
        # Python lists in the per-lane loop (numpy's per-element access costs more), arrays after it.
        step_types, rewards, discounts = [FIRST] * n, [0.0] * n, [1.0] * n
        observations = self._new_batch()
        for i, (env, restart) in enumerate(zip(self._envs, self._resets.restarting())):
            if restart:
                self._write(observations, i, self._reset_lane(i))
                continue
            observation, rewards[i], terminated, truncated, _ = env.step(actions[i])
            step_types[i], discounts[i] = lane_end(terminated, truncated)
            self._write(observations, i, observation)
        self._resets.record(step_types)
        return dm_env.TimeStep(np.array(step_types, np.int8), np.array(rewards, self._reward_spec.dtype),
                               np.array(discounts, self._discount_spec.dtype), observations)

    def observation_spec(self) -> Any:
        return self._observation_spec

    def action_spec(self) -> specs.Array:
        return self._action_spec

    def reward_spec(self) -> specs.Array:
        return self._reward_spec

    def discount_spec(self) -> specs.BoundedArray:
        return self._discount_spec

    def render(self) -> Any:
        """Renders lane 0 (made with render_mode='rgb_array' to give frames)."""
        return self._envs[0].render()

    def close(self) -> None:
        for env in self._envs:
            env.close()
