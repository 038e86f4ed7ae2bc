"""Tests for `environments.wrappers`."""

from __future__ import annotations

import copy
from typing import Any

import dm_env
import numpy as np
import pytest
import tree
from absl.testing import absltest
from dm_env import specs, test_utils

from environments.wrappers import (
    EnvironmentWrapper,
    SinglePrecisionWrapper,
)

_BIG_INT = np.iinfo(np.int64).max


class NestedEnv(dm_env.Environment):
    """Deterministic dm_env with nested float64/int64 specs.

    Every non-final step has discount `mid_discount`; if `terminate_at` is set,
    that step (counted from reset) is a LAST with discount 0. Records the actions
    it receives and how often it was reset.
    """

    custom_attribute = "inner"

    def __init__(self, terminate_at: int | None = None, mid_discount: float = 0.9) -> None:
        self._terminate_at = terminate_at
        self._mid_discount = mid_discount
        self._t = 0
        self._needs_reset = True
        self.received_actions: list[Any] = []
        self.num_resets = 0
        self.closed = False

    def reset(self) -> dm_env.TimeStep:
        self._t = 0
        self._needs_reset = False
        self.num_resets += 1
        return dm_env.restart(self._observation())

    def step(self, action: Any) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        # `validate` checks exact dtypes, so a wrapper that forgets to cast fails.
        tree.map_structure(lambda spec, a: spec.validate(a), self.action_spec(), action)
        self.received_actions.append(action)
        self._t += 1
        reward = np.float64(0.25 * self._t)
        if self._terminate_at is not None and self._t >= self._terminate_at:
            self._needs_reset = True
            return dm_env.TimeStep(
                dm_env.StepType.LAST, reward, np.float64(0.0), self._observation()
            )
        return dm_env.transition(reward, self._observation(), np.float64(self._mid_discount))

    def _observation(self) -> dict[str, Any]:
        return {
            "pixels": np.full((2, 2), 0.5),
            "extra": (np.arange(3, dtype=np.float64) * self._t, np.int64(self._t % 5)),
            "index": np.int64(self._t % 4),
            "raw": np.zeros(2, np.uint8),
        }

    def observation_spec(self) -> dict[str, Any]:
        return {
            "pixels": specs.BoundedArray((2, 2), np.float64, 0.0, 1.0, "pixels"),
            "extra": (
                specs.Array((3,), np.float64, "vector"),
                specs.BoundedArray((), np.int64, -5, 5, "counter"),
            ),
            "index": specs.DiscreteArray(4, np.int64, "index"),
            "raw": specs.BoundedArray((2,), np.uint8, 0, 255, "raw"),
        }

    def action_spec(self) -> dict[str, Any]:
        return {
            "move": specs.DiscreteArray(3, np.int64, "move"),
            "force": specs.BoundedArray((2,), np.float64, -1.0, 1.0, "force"),
        }

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float64, "reward")

    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((), np.float64, 0.0, 1.0, "discount")

    def close(self) -> None:
        self.closed = True


def _action(move: int = 1, dtype: Any = np.float32, int_dtype: Any = np.int32) -> dict[str, Any]:
    return {"move": np.asarray(move, int_dtype), "force": np.array([0.5, -0.5], dtype)}


def _step_types(steps: list[dm_env.TimeStep]) -> list[str]:
    return [s.step_type.name for s in steps]


# ----------------------------------------------------------------------------
# dm_env conformance of wrapped environments.
# ----------------------------------------------------------------------------


class SinglePrecisionConformanceTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    def make_object_under_test(self):
        return SinglePrecisionWrapper(NestedEnv(terminate_at=3))


# ----------------------------------------------------------------------------
# EnvironmentWrapper.
# ----------------------------------------------------------------------------


def test_base_wrapper_passes_through_and_delegates() -> None:
    inner = NestedEnv()
    env = EnvironmentWrapper(inner)
    assert env.environment is inner
    assert env.custom_attribute == "inner"
    assert env.observation_spec() == inner.observation_spec()
    assert env.action_spec() == inner.action_spec()
    assert env.reset().first() and inner.num_resets == 1
    env.step(_action(dtype=np.float64, int_dtype=np.int64))
    assert len(inner.received_actions) == 1
    with pytest.raises(AttributeError):
        env.no_such_attribute  # noqa: B018
    env.close()
    assert inner.closed


def test_wrapper_copy_does_not_recurse() -> None:
    env = EnvironmentWrapper(SinglePrecisionWrapper(NestedEnv()))
    clone = copy.deepcopy(env)
    assert clone.environment.environment.custom_attribute == "inner"
    assert clone.observation_spec() == env.observation_spec()


# ----------------------------------------------------------------------------
# SinglePrecisionWrapper.
# ----------------------------------------------------------------------------


def test_single_precision_specs() -> None:
    inner = NestedEnv()
    env = SinglePrecisionWrapper(inner)
    obs_spec = env.observation_spec()
    assert obs_spec["pixels"] == specs.BoundedArray((2, 2), np.float32, 0.0, 1.0, "pixels")
    assert obs_spec["extra"][0] == specs.Array((3,), np.float32, "vector")
    assert obs_spec["extra"][1] == specs.BoundedArray((), np.int32, -5, 5, "counter")
    assert type(obs_spec["extra"][0]) is specs.Array
    assert isinstance(obs_spec["index"], specs.DiscreteArray)
    assert obs_spec["index"].num_values == 4 and obs_spec["index"].dtype == np.int32
    assert obs_spec["raw"] == inner.observation_spec()["raw"]  # uint8 is left alone.
    assert env.action_spec()["move"] == specs.DiscreteArray(3, np.int32, "move")
    assert env.action_spec()["force"] == specs.BoundedArray((2,), np.float32, -1.0, 1.0, "force")
    assert env.reward_spec() == specs.Array((), np.float32, "reward")
    assert env.discount_spec() == specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")


def test_single_precision_values_conform() -> None:
    env = SinglePrecisionWrapper(NestedEnv(terminate_at=2))
    steps = [env.reset(), env.step(_action()), env.step(_action())]
    assert _step_types(steps) == ["FIRST", "MID", "LAST"]
    assert steps[0].reward is None and steps[0].discount is None
    for step in steps:
        tree.map_structure(
            lambda spec, value: spec.validate(value), env.observation_spec(), step.observation
        )
    for step in steps[1:]:
        env.reward_spec().validate(step.reward)
        env.discount_spec().validate(step.discount)
    assert steps[1].reward == np.float32(0.25) and steps[1].discount == np.float32(0.9)
    assert steps[2].discount == 0.0
    assert steps[1].observation["extra"][1].dtype == np.int32
    assert steps[1].observation["raw"].dtype == np.uint8


def test_single_precision_casts_actions_back() -> None:
    inner = NestedEnv()
    env = SinglePrecisionWrapper(inner)
    env.reset()
    env.step(_action(move=2))  # int32 / float32, as an agent would send.
    (received,) = inner.received_actions
    assert received["move"].dtype == np.int64 and received["move"] == 2
    assert received["force"].dtype == np.float64
    np.testing.assert_array_equal(received["force"], [0.5, -0.5])


def test_single_precision_extreme_bounds() -> None:
    class WideEnv(NestedEnv):
        def observation_spec(self):
            return {
                "wide_int": specs.BoundedArray((2,), np.int64, [-_BIG_INT, 0], [_BIG_INT, 7]),
                "wide_float": specs.BoundedArray((), np.float64, -1e300, np.inf),
            }

    spec = SinglePrecisionWrapper(WideEnv()).observation_spec()
    info = np.iinfo(np.int32)
    np.testing.assert_array_equal(spec["wide_int"].minimum, [info.min, 0])
    np.testing.assert_array_equal(spec["wide_int"].maximum, [info.max, 7])
    assert spec["wide_float"].minimum == -np.inf and spec["wide_float"].maximum == np.inf
    assert spec["wide_float"].dtype == np.float32


if __name__ == "__main__":
    absltest.main()
