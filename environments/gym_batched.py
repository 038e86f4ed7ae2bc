"""The 'gym' backend: N gymnasium environments of one id stepped in process, batched without per-lane timesteps.

The same lanes as the 'sync' backend builds from `gym:<id>` (each lane a
`GymnasiumEnvironment` inside `SpecCheckingWrapper` and
`SinglePrecisionWrapper`), at about two thirds of the cost per lane-step on
cheap environments such as CartPole: observations go straight from gymnasium into
one single-precision batch, and the checks run on whole batches:

* every step: the actions against the action spec, the rewards finite;
* the first `check_steps` steps of every lane, and every reset among them: the
  full timestep check of `environments.validation` (shape, kind, NaN, bounds).

It takes the flat spaces of classic control and MuJoCo: a Box observation and
a Discrete or Box action space. Anything else (Dict, Tuple, MultiDiscrete ...)
needs the sync backend, which adapts any space.
"""

from __future__ import annotations

from typing import Any, Sequence

import dm_env
import gymnasium
import numpy as np
from dm_env import specs
from gymnasium import spaces

from environments.batched import BatchedEnvironment
from environments.gym_adapter import DISCOUNT_SPEC, REWARD_SPEC, GymnasiumEnvironment
from environments.validation import (CHECKED_STEPS, EnvironmentSpecError, check_action, check_specs,
                                     check_timestep)
from environments.wrappers import narrow_spec

_FIRST, _MID, _LAST = (int(t) for t in dm_env.StepType)


def unsupported_spaces(env: gymnasium.Env) -> str | None:
    """Why the gym backend cannot batch `env` (its spaces), or None when it can."""
    if not isinstance(env.observation_space, spaces.Box):
        return f"its observation space is {env.observation_space}, not a Box"
    if not isinstance(env.action_space, (spaces.Discrete, spaces.Box)):
        return f"its action space is {env.action_space}, neither Discrete nor Box"
    return None


class GymnasiumBatchedEnvironment(BatchedEnvironment):
    """Lanes of gymnasium environments with flat spaces, in single precision (see the module docstring).

    Lane i is seeded with `seed + i` on its first reset; later resets continue
    its RNG. A terminated episode ends with discount 0, a truncated one with
    discount 1; the step after a lane's LAST restarts it (its action ignored)
    and reports FIRST with reward 0 and discount 1.
    """

    def __init__(self, environments: Sequence[gymnasium.Env], seed: int = 0, name: str | None = None,
                 check_steps: int = CHECKED_STEPS) -> None:
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
        # The environment's own specs (checked once), and the single-precision ones agents see.
        adapter = GymnasiumEnvironment(self._envs[0])
        self._inner_observation_spec, self._inner_action_spec, _, _ = check_specs(adapter, self._name)
        self._observation_spec = narrow_spec(self._inner_observation_spec)
        self._action_spec = narrow_spec(self._inner_action_spec)
        self._reward_spec = narrow_spec(REWARD_SPEC)
        self._discount_spec = narrow_spec(DISCOUNT_SPEC)
        space = self._envs[0].action_space
        self._discrete = isinstance(space, spaces.Discrete)
        if self._discrete:
            self._action_start, self._num_actions = int(space.start), int(space.n)
        else:
            self._action_low = np.broadcast_to(self._action_spec.minimum, self._action_spec.shape)
            self._action_high = np.broadcast_to(self._action_spec.maximum, self._action_spec.shape)
            self._gym_action_dtype = space.dtype
        self._seeds = [seed + i for i in range(len(self._envs))]
        self._needs_reset = [True] * len(self._envs)
        self._check_steps = int(check_steps)
        self._step_calls = 0

    @property
    def num_lanes(self) -> int:
        return len(self._envs)

    @property
    def gym_envs(self) -> list[gymnasium.Env]:
        return list(self._envs)

    def reset(self) -> dm_env.TimeStep:
        observations = np.empty((self.num_lanes,) + self._observation_spec.shape, self._observation_spec.dtype)
        for i in range(self.num_lanes):
            observations[i] = self._reset_lane(i)
        self._needs_reset = [False] * self.num_lanes
        n = self.num_lanes
        return dm_env.TimeStep(np.full(n, _FIRST, np.int8), np.zeros(n, self._reward_spec.dtype),
                               np.ones(n, self._discount_spec.dtype), observations)

    def _reset_lane(self, lane: int) -> Any:
        seed, self._seeds[lane] = self._seeds[lane], None
        observation, _ = self._envs[lane].reset(seed=seed)
        if self._step_calls < self._check_steps:
            check_timestep(dm_env.restart(observation), self._inner_observation_spec, REWARD_SPEC, DISCOUNT_SPEC,
                           self._name, f"returned by reset() of lane {lane}")
        return observation

    def step(self, action: Any) -> dm_env.TimeStep:
        actions = self._checked_actions(action)
        n = self.num_lanes
        # Python lists in the per-lane loop (numpy's per-element access costs more), arrays after it.
        step_types, rewards, discounts = [_MID] * n, [0.0] * n, [1.0] * n
        observations = np.empty((n,) + self._observation_spec.shape, self._observation_spec.dtype)
        self._step_calls += 1
        checking = self._step_calls <= self._check_steps
        shape = self._observation_spec.shape
        needs_reset = self._needs_reset
        for i, env in enumerate(self._envs):
            if needs_reset[i]:
                observations[i] = self._reset_lane(i)
                step_types[i] = _FIRST
                needs_reset[i] = False
                continue
            observation, reward, terminated, truncated, _ = env.step(actions[i])
            if checking:
                self._check(observation, reward, i)
            try:
                if getattr(observation, "shape", None) != shape:
                    raise ValueError(f"observation of shape {np.shape(observation)}")
                observations[i] = observation
                rewards[i] = float(reward)
            except (TypeError, ValueError):
                self._check(observation, reward, i)  # Says what is wrong; a numpy error says less.
                raise
            if terminated or truncated:
                step_types[i] = _LAST
                needs_reset[i] = True
                if terminated:
                    discounts[i] = 0.0
        reward_array = np.array(rewards)
        if not np.isfinite(reward_array).all():
            lane = int(np.flatnonzero(~np.isfinite(reward_array))[0])
            raise EnvironmentSpecError(f"Environment {self._name!r}: reward at step() call {self._step_calls} of "
                                       f"lane {lane} is not finite: {rewards[lane]}.")
        return dm_env.TimeStep(np.array(step_types, np.int8), reward_array.astype(self._reward_spec.dtype),
                               np.array(discounts, self._discount_spec.dtype), observations)

    def _check(self, observation: Any, reward: Any, lane: int) -> None:
        check_timestep(dm_env.TimeStep(_MID, reward, 1.0, observation), self._inner_observation_spec,
                       REWARD_SPEC, DISCOUNT_SPEC, self._name, f"at step() call {self._step_calls} of lane {lane}")

    def _checked_actions(self, action: Any) -> Sequence[Any]:
        """The batch of actions in gymnasium's form, after checking it against the action spec."""
        n = self.num_lanes
        array = np.asarray(action) if not isinstance(action, (dict, list, tuple)) else None
        expected = (n,) + self._action_spec.shape
        if array is None or array.dtype == object or array.shape != expected:
            raise EnvironmentSpecError(
                f"Environment {self._name!r}: step() expects a batch of {n} actions, an array of shape {expected} "
                f"fitting {self._action_spec!r}; got {action!r:.200}.")
        if self._discrete:
            if array.dtype.kind not in "biu" or array.min() < 0 or array.max() >= self._num_actions:
                self._explain_bad_action(array)
            return (array + self._action_start).tolist()
        if array.dtype.kind not in "biuf" or not ((array >= self._action_low) & (array <= self._action_high)).all():
            self._explain_bad_action(array)
        return array.astype(self._gym_action_dtype, copy=False)

    def _explain_bad_action(self, array: np.ndarray) -> None:
        for lane, value in enumerate(array):
            check_action(value, self._action_spec, self._name, f"given to step() call {self._step_calls + 1} "
                                                               f"for lane {lane}")
        raise EnvironmentSpecError(f"Environment {self._name!r}: actions {array!r:.200} do not fit "
                                   f"{self._action_spec!r}.")

    def observation_spec(self) -> specs.Array:
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
