"""Tests for `environments.gym_adapter` (gymnasium <-> dm_env)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import dm_env
import gymnasium
import numpy as np
import pytest
import tree
from absl.testing import absltest
from dm_env import specs, test_utils
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from environments.gym_adapter import (
    DmEnvToGymnasium,
    GymnasiumEnvironment,
    space_to_spec,
    spec_to_space,
)
from environments.wrappers import SinglePrecisionWrapper

# ----------------------------------------------------------------------------
# Fakes.
# ----------------------------------------------------------------------------


class ScriptedGymEnv(gymnasium.Env):
    """Deterministic gymnasium env whose (terminated, truncated) flags follow a script.

    Observations are `{'position': 10 + min(t, 4), 'velocity': [0.1, 0.1]}`
    where `t` counts steps since reset; the reward is always 0.5.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        script: tuple[tuple[bool, bool], ...] = (),
        action_space: spaces.Space | None = None,
    ) -> None:
        self.observation_space = spaces.Dict(
            {
                "position": spaces.Discrete(5, start=10),
                "velocity": spaces.Box(-1.0, 1.0, (2,), np.float64),
            }
        )
        self.action_space = action_space or spaces.Discrete(3, start=-1)
        self.render_mode = "rgb_array"
        self.script = list(script)
        self.received_actions: list[Any] = []
        self.reset_seeds: list[int | None] = []
        self.closed = False
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.reset_seeds.append(seed)
        self.t = 0
        return self._observation(), {"t": 0}

    def step(self, action: Any):
        self.received_actions.append(action)
        self.t += 1
        flags = self.script[self.t - 1] if self.t <= len(self.script) else (False, False)
        return self._observation(), 0.5, flags[0], flags[1], {"t": self.t}

    def render(self) -> np.ndarray:
        return np.full((2, 3, 3), self.t, dtype=np.uint8)

    def close(self) -> None:
        self.closed = True

    def _observation(self) -> dict[str, Any]:
        return {"position": 10 + min(self.t, 4), "velocity": np.full(2, 0.1)}


class Corridor(dm_env.Environment):
    """Tiny deterministic dm_env: a 1-D corridor of `length` cells.

    Action 1 moves right, 0 left. Reaching the last cell terminates with
    reward 1; after `time_limit` steps the episode is truncated. The start
    cell (0 or 1) is drawn from an RNG that `seed()` resets.
    """

    def __init__(self, length: int = 5, time_limit: int = 8) -> None:
        self._length = length
        self._time_limit = time_limit
        self._rng = np.random.default_rng(0)
        self._position = 0
        self._t = 0
        self._needs_reset = True
        self.seed_calls: list[int] = []

    def seed(self, seed: int) -> None:
        self.seed_calls.append(seed)
        self._rng = np.random.default_rng(seed)

    def reset(self) -> dm_env.TimeStep:
        self._position = int(self._rng.integers(0, 2))
        self._t = 0
        self._needs_reset = False
        return dm_env.restart(self._observation())

    def step(self, action: Any) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        self.action_spec().validate(action)
        move = 1 if int(action) == 1 else -1
        self._position = int(np.clip(self._position + move, 0, self._length - 1))
        self._t += 1
        zero, one = np.float64(0.0), np.float64(1.0)
        if self._position == self._length - 1:
            self._needs_reset = True
            return dm_env.TimeStep(dm_env.StepType.LAST, one, zero, self._observation())
        if self._t >= self._time_limit:
            self._needs_reset = True
            return dm_env.truncation(zero, self._observation(), one)
        return dm_env.transition(zero, self._observation(), one)

    def _observation(self) -> np.ndarray:
        return np.array([self._position / (self._length - 1)], dtype=np.float32)

    def observation_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((1,), np.float32, 0.0, 1.0, "position")

    def action_spec(self) -> specs.DiscreteArray:
        return specs.DiscreteArray(2, dtype=np.int32, name="action")

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float64, "reward")

    def render(self) -> np.ndarray:
        frame = np.zeros((1, self._length, 3), dtype=np.uint8)
        frame[0, self._position] = 255
        return frame


# ----------------------------------------------------------------------------
# dm_env conformance on real gymnasium environments.
# ----------------------------------------------------------------------------


class _EndsEpisodeMixin(test_utils.EnvironmentTestMixin):
    """Adds a check that `make_action_sequence` really reaches a LAST step."""

    num_actions = 100

    def make_action_sequence(self):
        action = self.make_action()
        for _ in range(self.num_actions):
            yield action

    def test_action_sequence_reaches_last(self):
        self.environment.reset()
        steps = [self.environment.step(a) for a in self.make_action_sequence()]
        self.assertTrue(any(step.last() for step in steps))


class CartPoleTest(_EndsEpisodeMixin, absltest.TestCase):
    def make_object_under_test(self):
        return GymnasiumEnvironment(gymnasium.make("CartPole-v1"), seed=0)

    def test_specs(self):
        env = self.environment
        self.assertEqual(env.action_spec(), specs.DiscreteArray(2, np.int64, "action"))
        self.assertEqual(env.observation_spec().dtype, np.float32)
        self.assertEqual(env.observation_spec().shape, (4,))


class CartPoleSinglePrecisionTest(_EndsEpisodeMixin, absltest.TestCase):
    def make_object_under_test(self):
        return SinglePrecisionWrapper(
            GymnasiumEnvironment(gymnasium.make("CartPole-v1"), seed=0)
        )

    def test_specs(self):
        env = self.environment
        self.assertEqual(env.action_spec(), specs.DiscreteArray(2, np.int32, "action"))
        self.assertEqual(env.reward_spec().dtype, np.float32)
        self.assertEqual(env.discount_spec().dtype, np.float32)


class PendulumTest(_EndsEpisodeMixin, absltest.TestCase):
    num_actions = 50  # Truncated after 20 steps.

    def make_object_under_test(self):
        return GymnasiumEnvironment(
            gymnasium.make("Pendulum-v1", max_episode_steps=20), seed=0
        )

    def test_truncation_keeps_discount_one(self):
        self.environment.reset()
        steps = [self.environment.step(a) for a in self.make_action_sequence()]
        last = [s for s in steps if s.last()]
        self.assertLen(last, 2)
        for step in last:
            self.assertEqual(step.discount, 1.0)
        self.assertTrue(steps[20].first())


class PendulumSinglePrecisionTest(_EndsEpisodeMixin, absltest.TestCase):
    num_actions = 50

    def make_object_under_test(self):
        return SinglePrecisionWrapper(
            GymnasiumEnvironment(gymnasium.make("Pendulum-v1", max_episode_steps=20), seed=0)
        )


# ----------------------------------------------------------------------------
# Space <-> spec conversion.
# ----------------------------------------------------------------------------

ROUND_TRIP_SPACES = {
    "box": spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32)),
    "discrete": spaces.Discrete(4),
    "multi_discrete": spaces.MultiDiscrete([3, 4]),
    "multi_binary": spaces.MultiBinary(5),
    "dict": spaces.Dict({"a": spaces.Box(0.0, 1.0, (2, 2), np.float64), "b": spaces.Discrete(3)}),
    "tuple": spaces.Tuple((spaces.Discrete(2), spaces.MultiBinary((2, 3)))),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP_SPACES))
def test_space_spec_round_trip(name: str) -> None:
    space = ROUND_TRIP_SPACES[name]
    spec = space_to_spec(space)
    assert spec_to_space(spec) == space
    # And the other way: spec -> space -> spec is the identity too.
    assert tree.flatten(space_to_spec(spec_to_space(spec))) == tree.flatten(spec)


def test_space_to_spec_leaf_kinds() -> None:
    box = space_to_spec(spaces.Box(-2.0, 2.0, (3,), np.float32), "obs")
    assert box == specs.BoundedArray((3,), np.float32, -2.0, 2.0, "obs")

    discrete = space_to_spec(spaces.Discrete(6, start=-3))
    assert isinstance(discrete, specs.DiscreteArray)
    assert discrete.num_values == 6 and discrete.dtype == np.int64
    assert discrete.minimum == 0 and discrete.maximum == 5

    multi_discrete = space_to_spec(spaces.MultiDiscrete([3, 5]))
    assert multi_discrete == specs.BoundedArray((2,), np.int64, 0, [2, 4])

    shifted = space_to_spec(spaces.MultiDiscrete([3, 5], start=[1, -2]))
    assert shifted == specs.BoundedArray((2,), np.int64, [1, -2], [3, 2])

    binary = space_to_spec(spaces.MultiBinary(4))
    assert binary == specs.BoundedArray((4,), np.int8, 0, 1)


def test_nested_spec_names_and_key_order() -> None:
    space = spaces.Dict(
        {
            "z": spaces.Discrete(2),
            "a": spaces.Tuple((spaces.Box(0, 1, (1,)), spaces.Discrete(3))),
        }
    )
    spec = space_to_spec(space, "observation")
    assert list(spec) == list(space.spaces)
    assert spec["z"].name == "observation/z"
    assert spec["a"][1].name == "observation/a/1"
    assert space_to_spec(spaces.Discrete(2)).name is None


def test_spec_to_space_leaf_kinds() -> None:
    unbounded = spec_to_space(specs.Array((2,), np.float32))
    assert unbounded == spaces.Box(-np.inf, np.inf, (2,), np.float32)
    ints = spec_to_space(specs.Array((2,), np.int32))
    assert isinstance(ints, spaces.Box) and ints.dtype == np.int32
    # uint8 images fill their dtype: they stay a Box and round-trip exactly.
    image = spaces.Box(0, 255, (4, 4, 3), np.uint8)
    assert spec_to_space(space_to_spec(image)) == image
    shifted = spec_to_space(specs.BoundedArray((2,), np.int64, [1, -2], [3, 2]))
    assert shifted == spaces.MultiDiscrete([3, 5], start=[1, -2])
    nested = spec_to_space([specs.DiscreteArray(2), {"x": specs.Array((), np.float64)}])
    assert isinstance(nested, spaces.Tuple) and isinstance(nested[1], spaces.Dict)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
    low=st.floats(-100, 0),
    width=st.floats(0, 100),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_box_round_trip_property(shape, low, width, dtype) -> None:
    box = spaces.Box(low, low + width, shape, dtype)
    spec = space_to_spec(box)
    assert spec.dtype == dtype and spec.shape == shape
    assert spec_to_space(spec) == box


@pytest.mark.parametrize(
    "space", [spaces.Text(5), spaces.Dict({"ok": spaces.Discrete(2), "bad": spaces.Text(3)})]
)
def test_unsupported_space_raises(space: spaces.Space) -> None:
    with pytest.raises(TypeError, match="Unsupported gymnasium space Text"):
        space_to_spec(space)


def test_unsupported_space_in_environment_raises() -> None:
    env = ScriptedGymEnv(action_space=spaces.Sequence(spaces.Discrete(2)))
    with pytest.raises(TypeError, match="Sequence"):
        GymnasiumEnvironment(env)


def test_unsupported_spec_raises() -> None:
    with pytest.raises(TypeError, match="StringArray"):
        spec_to_space(specs.StringArray(()))


# ----------------------------------------------------------------------------
# GymnasiumEnvironment behaviour.
# ----------------------------------------------------------------------------


def test_termination_maps_to_discount_zero() -> None:
    env = GymnasiumEnvironment(ScriptedGymEnv(script=((False, False), (True, False))))
    assert env.step(0).first()  # Fresh env: step() resets and ignores the action.
    mid = env.step(1)
    assert mid.mid() and mid.discount == 1.0
    last = env.step(1)
    assert last.last()
    assert last.discount == 0.0 and last.discount.dtype == np.float64
    assert last.reward == 0.5 and last.reward.dtype == np.float64
    assert env.step(1).first()  # After LAST, step() resets.


def test_truncation_maps_to_discount_one() -> None:
    env = GymnasiumEnvironment(ScriptedGymEnv(script=((False, True),)))
    env.reset()
    last = env.step(0)
    assert last.last()
    assert last.discount == 1.0 and last.discount.dtype == np.float64


def test_terminated_and_truncated_is_termination() -> None:
    env = GymnasiumEnvironment(ScriptedGymEnv(script=((True, True),)))
    env.reset()
    last = env.step(0)
    assert last.last() and last.discount == 0.0


def test_discrete_start_offsets_actions_and_observations() -> None:
    gym_env = ScriptedGymEnv()
    env = GymnasiumEnvironment(gym_env)
    first = env.reset()
    assert first.observation["position"] == 0
    assert first.observation["position"].dtype == np.int64
    assert first.observation["velocity"].dtype == np.float64
    env.step(np.int64(0))
    step = env.step(np.int32(2))
    assert gym_env.received_actions == [-1, 1]
    assert all(type(a) is int for a in gym_env.received_actions)
    assert step.observation["position"] == 2
    env.observation_spec()["position"].validate(step.observation["position"])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(1, 20), start=st.integers(-10, 10))
def test_discrete_offset_property(data, n: int, start: int) -> None:
    gym_env = ScriptedGymEnv(action_space=spaces.Discrete(n, start=start))
    env = GymnasiumEnvironment(gym_env)
    env.reset()
    action = data.draw(st.integers(0, n - 1))
    env.step(action)
    assert gym_env.received_actions == [action + start]
    assert gym_env.action_space.contains(gym_env.received_actions[0])


def test_nested_actions_are_converted() -> None:
    action_space = spaces.Dict(
        {"move": spaces.Discrete(3, start=1), "force": spaces.Box(-1, 1, (2,), np.float32)}
    )
    gym_env = ScriptedGymEnv(action_space=action_space)
    env = GymnasiumEnvironment(gym_env)
    env.reset()
    env.step({"move": np.int32(2), "force": np.array([0.5, -0.5])})
    (received,) = gym_env.received_actions
    assert received["move"] == 3
    assert received["force"].dtype == np.float32
    assert action_space.contains(received)


@pytest.mark.parametrize("bad_action", [3, -1, np.int64(7)])
def test_out_of_range_discrete_action_raises(bad_action) -> None:
    env = GymnasiumEnvironment(ScriptedGymEnv())
    env.reset()
    with pytest.raises(ValueError, match=rf"Invalid action {re.escape(repr(bad_action))}.*DiscreteArray"):
        env.step(bad_action)


def test_non_integer_discrete_action_raises() -> None:
    env = GymnasiumEnvironment(ScriptedGymEnv())
    env.reset()
    with pytest.raises(ValueError, match=r"Invalid action 1\.5.*not an integer.*DiscreteArray"):
        env.step(1.5)


def test_wrong_box_shape_raises() -> None:
    env = GymnasiumEnvironment(gymnasium.make("Pendulum-v1"), seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"Invalid action array\(\[0\., 0\., 0\.\]\).*\(3,\).*BoundedArray"):
        env.step(np.zeros(3))


def test_wrong_action_structure_raises() -> None:
    action_space = spaces.Dict({"move": spaces.Discrete(3), "jump": spaces.Discrete(2)})
    env = GymnasiumEnvironment(ScriptedGymEnv(action_space=action_space))
    env.reset()
    with pytest.raises(ValueError, match=r"Invalid action 1: structure.*DiscreteArray"):
        env.step(1)


def _run_episodes(env: dm_env.Environment, episodes: int) -> list[np.ndarray]:
    """All observations of `episodes` episodes under a fixed action."""
    observations = []
    for _ in range(episodes):
        step = env.reset()
        observations.append(step.observation)
        while not step.last():
            step = env.step(np.int64(1))
            observations.append(step.observation)
    return observations


def test_seeding_is_reproducible_across_resets() -> None:
    run_a = _run_episodes(GymnasiumEnvironment(gymnasium.make("CartPole-v1"), seed=7), 3)
    run_b = _run_episodes(GymnasiumEnvironment(gymnasium.make("CartPole-v1"), seed=7), 3)
    other = _run_episodes(GymnasiumEnvironment(gymnasium.make("CartPole-v1"), seed=8), 1)
    assert len(run_a) == len(run_b)
    for a, b in zip(run_a, run_b):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run_a[0], other[0])


def test_only_first_reset_is_seeded() -> None:
    gym_env = ScriptedGymEnv()
    env = GymnasiumEnvironment(gym_env, seed=3)
    env.reset()
    env.reset()
    env.step(0)
    assert gym_env.reset_seeds == [3, None]


def test_passthroughs() -> None:
    gym_env = ScriptedGymEnv(script=((False, False),))
    env = GymnasiumEnvironment(gym_env)
    assert env.gym_env is gym_env
    env.reset()
    assert env.last_info == {"t": 0}
    env.step(0)
    assert env.last_info == {"t": 1}
    np.testing.assert_array_equal(env.render(), np.full((2, 3, 3), 1, np.uint8))
    env.close()
    assert gym_env.closed


# ----------------------------------------------------------------------------
# DmEnvToGymnasium.
# ----------------------------------------------------------------------------


def test_check_env_passes_without_warnings() -> None:
    env = DmEnvToGymnasium(Corridor())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    assert [str(w.message) for w in caught] == []


def test_dm_to_gym_spaces_and_flags() -> None:
    corridor = Corridor(length=3, time_limit=3)
    env = DmEnvToGymnasium(corridor)
    assert env.action_space == spaces.Discrete(2)
    assert env.observation_space == spaces.Box(0.0, 1.0, (1,), np.float32)

    obs, info = env.reset(seed=5)
    assert corridor.seed_calls == [5] and info == {}
    assert obs in env.observation_space
    # Walk left until truncation (discount 1 -> truncated).
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    # Walk right until the end (discount 0 -> terminated).
    env.reset()
    results = [env.step(np.int64(1)) for _ in range(2 - int(corridor._position))]
    obs, reward, terminated, truncated, _ = results[-1]
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert type(reward) is float
    env.reset()  # Unseeded reset does not re-seed the dm_env.
    assert corridor.seed_calls == [5]


def test_dm_to_gym_render_and_close() -> None:
    env = DmEnvToGymnasium(Corridor())
    assert env.render_mode == "rgb_array"
    env.reset(seed=0)
    assert env.render().shape == (1, 5, 3)
    env.close()
    env.close()  # Idempotent.


def test_gym_dm_gym_round_trip_keeps_specs() -> None:
    corridor = Corridor()
    back = GymnasiumEnvironment(DmEnvToGymnasium(corridor), seed=1)
    assert back.observation_spec() == specs.BoundedArray((1,), np.float32, 0.0, 1.0, "observation")
    assert back.action_spec().num_values == 2
    first = back.reset()
    assert first.first() and corridor.seed_calls == [1]


if __name__ == "__main__":
    absltest.main()
