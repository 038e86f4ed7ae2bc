"""Environments checked once at start-up, and cheaply on the hot path.

A bad environment (or a bad action) should fail with a message that names the
environment, the field, what its spec expects and what came, not with a
traceback from deep inside numpy or torch half-way through training. The
checks themselves are `environments.spec_checks`; this module decides when
they run (the run field `check_env`):

* **At start-up** (`check_env=startup`, the default): `check_environment`
  builds one lane of the run's environment, checks its specs, resets it and
  steps it `CHECKED_STEPS` (100) times with random spec-valid actions, checking
  every timestep (shape, kind, NaN, bounds; FIRST with reward and discount
  None; the dm_env order of step types), then closes it. It sees the
  environment's own values, before any cast could hide a wrong dtype (a
  float64 image in [0, 1] under a uint8 spec would otherwise become zeros).
* **On every step, cheaply** (every backend): `CheckedLanes` checks the batch
  of actions against the action spec once (one comparison over the batch) and
  the batch of rewards for NaN/inf once, naming the lane and the step.
* **On every step, in full** (`check_env=full`, for debugging): each lane sits
  in `SpecCheckingWrapper`, which checks every action and timestep against the
  specs, and `CheckedLanes` checks every lane of every batch the same way
  (this covers backends without per-lane environments: gym, ale).

Every failure raises `EnvironmentSpecError` (a `ValueError`).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping
from typing import Any, Callable

import dm_env
import numpy as np
import tree
from dm_env import specs

from environments.auto_reset import FIRST, LAST
from environments.batched import BatchedEnvironment
from environments.spec_checks import (MASK_KEY, STEP_TYPE_NAMES, EnvironmentSpecError, check_action, check_specs,
                                      check_some_action_allowed, check_timestep, compatible_kinds, describe_value,
                                      loosened_bounds, random_action)
from environments.wrappers import EnvironmentWrapper, FixedSpecsWrapper, NamedEnvironment

__all__ = ["CHECK_MODES", "CHECKED_STEPS", "CheckedLanes", "EnvironmentSpecError", "SpecCheckingWrapper",
           "check_environment", "checked_lane_factory"]

CHECKED_STEPS = 100
CHECK_MODES = ("startup", "full")


class EpisodeOrder:
    """Follows one lane's step types and says when they break dm_env's order: reset -> FIRST; FIRST only on a
    fresh environment or after LAST; then MID ... LAST."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.episode_step: int | None = None  # Steps since the episode's FIRST; None: fresh or after LAST.

    def check(self, step_type: int, kind: str, where: str) -> None:
        expect_first = kind == "reset" or self.episode_step is None
        if expect_first and step_type != FIRST:
            if kind == "reset":
                rule = "reset() must give FIRST (dm_env.restart)"
            else:
                rule = ("step() on a fresh environment or after a LAST step must start a new episode and give "
                        "FIRST, ignoring the action (dm_env.restart); this one went on with the old episode. "
                        "Reset in step() when the previous step was LAST")
            raise EnvironmentSpecError(
                f"Environment {self._name!r}: step_type {where} is {STEP_TYPE_NAMES[step_type]}; {rule}.")
        if not expect_first and step_type == FIRST:
            raise EnvironmentSpecError(
                f"Environment {self._name!r}: step_type {where} is FIRST in the middle of an episode; "
                "dm_env gives FIRST only from reset(), on a fresh environment or after a LAST step.")
        self.episode_step = None if step_type == LAST else 0 if step_type == FIRST else self.episode_step + 1

    def where(self, kind: str, step_calls: int, lane: int | None = None) -> str:
        """How messages place the next timestep: 'returned by reset()' or 'at step() call k, step j of ...'."""
        of_lane = f" of lane {lane}" if lane is not None else ""
        if kind == "reset":
            return f"returned by reset(){of_lane}"
        episode = f", step {self.episode_step + 1} of its episode" if self.episode_step is not None else ""
        return f"at step() call {step_calls}{of_lane}{episode}"


class SpecCheckingWrapper(NamedEnvironment, FixedSpecsWrapper):
    """Checks every action and timestep of an environment against its own specs (see the module docstring).

    Args:
      environment: The environment to check.
      name: How messages name it (the registry passes e.g. 'gym:CartPole-v1').
      scalar_reward: Require reward and discount specs of shape ().

    Raises:
      EnvironmentSpecError: from the constructor for malformed specs; from `reset`/`step` for timesteps that
        do not fit them, a reward that is not finite, or an action outside the action spec.
    """

    def __init__(self, environment: dm_env.Environment, name: str | None = None,
                 scalar_reward: bool = True) -> None:
        super().__init__(environment, name)
        (self._observation_spec, self._action_spec, self._reward_spec,
         self._discount_spec) = check_specs(environment, self._name, scalar_reward)
        self._order = EpisodeOrder(self._name)

    def reset(self) -> dm_env.TimeStep:
        timestep = super().reset()
        self._check(timestep, "reset")
        return timestep

    def step(self, action: Any) -> dm_env.TimeStep:
        check_action(action, self._action_spec, self._name, f"given to step() call {self._step_calls + 1}")
        timestep = super().step(action)
        self._check(timestep, "step")
        return timestep

    def _check(self, timestep: Any, kind: str) -> None:
        where = self._order.where(kind, self._step_calls)
        check_timestep(timestep, self._observation_spec, self._reward_spec, self._discount_spec, self._name, where)
        self._order.check(int(timestep.step_type), kind, where)


def _innermost_checker(environment: Any) -> SpecCheckingWrapper | None:
    """The `SpecCheckingWrapper` in `environment`'s chain of wrappers, if any."""
    while isinstance(environment, EnvironmentWrapper):
        if isinstance(environment, SpecCheckingWrapper):
            return environment
        environment = environment.environment
    return None


def check_environment(environment: dm_env.Environment, name: str | None = None,
                      num_steps: int = CHECKED_STEPS, seed: int = 0) -> None:
    """Checks `environment`'s specs and `num_steps` steps of it under random spec-valid actions, then closes it.

    Build it for this (one lane of the run's environment, not a lane the run uses). When it already holds a
    `SpecCheckingWrapper` (a registry environment made with `check=True`), that one checks the environment's
    values before the single-precision cast; otherwise the environment is wrapped in one here.

    Raises:
      EnvironmentSpecError: malformed specs, a timestep that does not fit them, or steps out of dm_env's order.
    """
    try:
        checked = environment if _innermost_checker(environment) else SpecCheckingWrapper(environment, name)
        rng = np.random.default_rng(seed)
        action_spec = checked.action_spec()
        timestep = checked.reset()
        for _ in range(num_steps):  # After a LAST, a step starts the next episode.
            timestep = checked.step(random_action(action_spec, rng, timestep.observation))
    finally:
        try:
            environment.close()
        except Exception:  # noqa: BLE001 - the check's error is the one to report.
            pass


def _spec_checked(factory: Callable[[int], dm_env.Environment], seed: int) -> dm_env.Environment:
    environment = factory(seed)
    return environment if _innermost_checker(environment) else SpecCheckingWrapper(environment)


def checked_lane_factory(factory: Callable[[int], dm_env.Environment]) -> Callable[[int], dm_env.Environment]:
    """`factory`, with every lane it makes checked on every step (`check_env=full`); picklable when it is.

    Lanes that already hold a checker (registry environments made with `check=True`) are left as they are.
    """
    return functools.partial(_spec_checked, factory)


def _in_range(values: list[int], limit: int) -> bool:
    """Whether every (integer) action is in [0, limit): min and max of a Python list, cheaper than numpy's for
    the few lanes of a batch."""
    return not values or (min(values) >= 0 and max(values) < limit)


class CheckedLanes(FixedSpecsWrapper, BatchedEnvironment):
    """A batched environment whose actions and rewards are checked once per batch; with `full`, every lane's
    timestep too (see the module docstring)."""

    def __init__(self, environment: BatchedEnvironment, name: str, full: bool = False) -> None:
        super().__init__(environment)
        self._name, self._full = name, full
        self._observation_spec, self._action_spec = environment.observation_spec(), environment.action_spec()
        self._reward_spec, self._discount_spec = environment.reward_spec(), environment.discount_spec()
        self._n = environment.num_lanes
        self._step_calls = 0
        self._orders = [EpisodeOrder(name) for _ in range(self._n)]
        self._fast_action = self._action_test(self._action_spec)
        self._masked = isinstance(self._observation_spec, Mapping) and MASK_KEY in self._observation_spec

    @property
    def num_lanes(self) -> int:
        return self._n

    def episode_info(self, lane: int) -> dict[str, float]:
        return self._environment.episode_info(lane)

    def _action_test(self, spec: Any) -> Callable[[Any], bool] | None:
        """A test of a whole batch of actions (True: all fit), for flat specs; None: check lane by lane."""
        if tree.is_nested(spec):
            return None
        shape, kinds = (self._n,) + spec.shape, compatible_kinds(spec.dtype)
        if isinstance(spec, specs.DiscreteArray):
            limit = spec.num_values
            return lambda a: a.shape == shape and a.dtype.kind in kinds and _in_range(a.tolist(), limit)
        if isinstance(spec, specs.BoundedArray):
            low, high = loosened_bounds(spec)
            return lambda a: a.shape == shape and a.dtype.kind in kinds and bool(((a >= low) & (a <= high)).all())
        return lambda a: a.shape == shape and a.dtype.kind in kinds and not (
            a.dtype.kind in "fc" and np.isnan(a).any())

    def _check_actions(self, action: Any) -> None:
        if self._fast_action is not None:
            array = np.asarray(action) if not isinstance(action, (dict, list, tuple)) else None
            if array is not None and array.dtype != object and self._fast_action(array):
                return
        call = self._step_calls + 1
        leaf = tree.flatten(action)[0] if action is not None else None
        if np.ndim(leaf) == 0 or len(leaf) != self._n:
            shape = ("" if tree.is_nested(self._action_spec)
                     else f", an array of shape {(self._n,) + self._action_spec.shape}")
            raise EnvironmentSpecError(
                f"Environment {self._name!r}: step() expects a batch of {self._n} actions (one per lane{shape}) "
                f"fitting {self._action_spec!r:.300}; got {describe_value(action)}.")
        for lane in range(self._n):
            check_action(tree.map_structure(lambda a: np.asarray(a)[lane], action), self._action_spec, self._name,
                         f"given to step() call {call} for lane {lane}")

    def reset(self) -> dm_env.TimeStep:
        return self._checked(self._environment.reset(), "reset")

    def step(self, action: Any) -> dm_env.TimeStep:
        self._check_actions(action)
        timestep = self._environment.step(action)
        self._step_calls += 1
        return self._checked(timestep, "step")

    def _checked(self, timestep: dm_env.TimeStep, kind: str) -> dm_env.TimeStep:
        rewards = np.asarray(timestep.reward)
        # A sum is finite when every term is (a Python sum of a short list is the cheapest test); an overflow
        # of finite rewards goes on to the exact test.
        if not math.isfinite(sum(rewards.ravel().tolist())) and not np.isfinite(rewards).all():
            lane = int(np.flatnonzero(~np.isfinite(rewards.reshape(self._n, -1)).any(axis=1))[0])
            raise EnvironmentSpecError(f"Environment {self._name!r}: reward at step() call {self._step_calls} of "
                                       f"lane {lane} is not finite: {rewards[lane]}.")
        if self._masked:  # Lanes that act next (not LAST) need an allowed action: one test for the batch.
            check_some_action_allowed(timestep.observation, self._observation_spec, self._name,
                                      f"after {kind}() call {self._step_calls}",
                                      acting=np.asarray(timestep.step_type) != LAST)
        if self._full:
            for lane, order in enumerate(self._orders):
                self._check_lane(timestep, lane, order, kind)
        return timestep

    def _check_lane(self, timestep: dm_env.TimeStep, lane: int, order: EpisodeOrder, kind: str) -> None:
        step_type = int(timestep.step_type[lane])
        observation = tree.map_structure(operator.itemgetter(lane), timestep.observation)
        if step_type == FIRST:  # Batches carry reward 0 and discount 1 where dm_env has None.
            lane_step = dm_env.restart(observation)
        else:
            lane_step = dm_env.TimeStep(step_type, timestep.reward[lane], timestep.discount[lane], observation)
        where = order.where(kind, self._step_calls, lane)
        check_timestep(lane_step, self._observation_spec, self._reward_spec, self._discount_spec, self._name, where)
        order.check(step_type, kind, where)
