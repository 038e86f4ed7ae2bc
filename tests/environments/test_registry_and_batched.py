"""Tests for `environments.registry` and `environments.batched`."""

from __future__ import annotations

import itertools
import sys
import textwrap
from typing import Any

import dm_env
import numpy as np
import pytest
from dm_env import specs

from environments.batched import SyncBatchedEnvironment, as_batched
from environments.registry import make_batched_environment, make_environment

# ----------------------------------------------------------------------------
# A tiny python:<module>:<factory> module, written per test.
# ----------------------------------------------------------------------------

FACTORY_MODULE = '''
import dm_env
import numpy as np
from dm_env import specs

CREATED = []  # The seed of every environment made, in order.


class SeededEnv(dm_env.Environment):
    """float64 rewards and observations (the registry narrows them); episodes of 2 steps."""

    def __init__(self, seed, scale=1.0):
        self.seed = seed
        self.scale = scale
        self.t = 0

    def reset(self):
        self.t = 0
        return dm_env.restart(np.array([self.seed, 0.0]))

    def step(self, action):
        self.t += 1
        obs = np.array([self.seed, float(self.t)])
        reward = np.float64(self.scale * self.t)
        if self.t >= 2:
            return dm_env.termination(reward, obs)
        return dm_env.transition(reward, obs)

    def observation_spec(self):
        return specs.Array((2,), np.float64, "observation")

    def action_spec(self):
        return specs.DiscreteArray(2, dtype=np.int64, name="action")

    def reward_spec(self):
        return specs.Array((), np.float64, "reward")

    def discount_spec(self):
        return specs.BoundedArray((), np.float64, 0.0, 1.0, "discount")


def make_env(seed=0, scale=1.0):
    CREATED.append(seed)
    return SeededEnv(seed, scale)


def make_unseeded():
    return SeededEnv(-1)


def not_an_env(seed=0):
    return "definitely not an environment"


NOT_CALLABLE = 3
'''

_counter = itertools.count()


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """Writes the factory module under a fresh name, on sys.path; yields its name."""
    name = f"agentpipe_test_factory_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


# ----------------------------------------------------------------------------
# Registry.
# ----------------------------------------------------------------------------


def assert_single_precision(env: dm_env.Environment) -> None:
    assert env.reward_spec().dtype == np.float32
    assert env.discount_spec().dtype == np.float32
    first = env.reset()
    action = np.zeros(env.action_spec().shape, env.action_spec().dtype)
    ts = env.step(action)
    assert np.asarray(ts.reward).dtype == np.float32
    assert np.asarray(ts.discount).dtype == np.float32
    for value in (first.observation, ts.observation):
        assert np.asarray(value).dtype not in (np.float64, np.int64)


def test_make_gridworld():
    env = make_environment("gridworld:simple")
    spec = env.observation_spec()
    assert spec.shape == (3, 9, 10)  # The registry's default: grid observations.
    assert spec.dtype == np.float32
    assert env.action_spec().num_values == 4
    assert_single_precision(env)


def test_gridworld_options_reach_the_task():
    env = make_environment("gridworld:obstacle", observation_type="state_index")
    assert isinstance(env.observation_spec(), specs.DiscreteArray)
    assert env.observation_spec().num_values == 90


def test_make_gym_cartpole():
    env = make_environment("gym:CartPole-v1", seed=3)
    assert env.observation_spec().shape == (4,)
    assert env.observation_spec().dtype == np.float32
    assert env.action_spec().num_values == 2
    assert_single_precision(env)
    # Seeded: the same seed gives the same first observation, another seed does not.
    first = env.reset().observation  # A second reset continues the RNG: compare fresh envs.
    a = make_environment("gym:CartPole-v1", seed=3).reset().observation
    b = make_environment("gym:CartPole-v1", seed=3).reset().observation
    c = make_environment("gym:CartPole-v1", seed=4).reset().observation
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert first.shape == (4,)
    env.close()


def test_make_python_factory_gets_seed_and_options(factory_module):
    env = make_environment(f"python:{factory_module}:make_env", seed=7, scale=2.0)
    module = sys.modules[factory_module]
    assert module.CREATED == [7]
    assert env.environment.scale == 2.0  # The options reached the factory.
    first = env.reset()
    np.testing.assert_array_equal(first.observation, [7.0, 0.0])
    assert env.observation_spec().dtype == np.float32
    assert env.action_spec().dtype == np.int32
    assert_single_precision(env)


def test_python_factory_without_seed_parameter(factory_module):
    env = make_environment(f"python:{factory_module}:make_unseeded", seed=7)
    np.testing.assert_array_equal(env.reset().observation, [-1.0, 0.0])


@pytest.mark.parametrize("name", ["simple", "CartPole-v1", "", ":simple"])
def test_missing_prefix_is_rejected(name):
    with pytest.raises(ValueError, match="Unknown environment name") as error:
        make_environment(name)
    assert "gridworld, gym, atari, dmc, minatar, python" in str(error.value)


def test_unknown_prefix_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        make_environment("mujoco:Ant")
    message = str(error.value)
    assert "'mujoco:Ant'" in message
    for prefix in ("gridworld", "gym", "atari", "python"):
        assert prefix in message


def test_prefix_without_a_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown environment name"):
        make_environment("gym:")


def test_unknown_gridworld_task_lists_tasks():
    with pytest.raises(ValueError, match="Unknown gridworld task 'maze'") as error:
        make_environment("gridworld:maze")
    for task in ("simple", "obstacle", "random_goal"):
        assert task in str(error.value)


def test_unknown_gym_id_suggests_close_matches():
    with pytest.raises(ValueError, match="CartPol-v1") as error:
        make_environment("gym:CartPol-v1")
    assert "Close matches: CartPole-v1" in str(error.value)


def test_python_target_without_factory(factory_module):
    with pytest.raises(ValueError, match=r"python:<module>:<factory>"):
        make_environment(f"python:{factory_module}")
    with pytest.raises(ValueError, match=r"python:<module>:<factory>"):
        make_environment(f"python:{factory_module}:")


def test_python_target_with_missing_module_or_attribute(factory_module):
    with pytest.raises(ValueError, match="Cannot import module 'no_such_module_xyz'"):
        make_environment("python:no_such_module_xyz:make_env")
    with pytest.raises(ValueError, match="no callable 'missing'"):
        make_environment(f"python:{factory_module}:missing")
    with pytest.raises(ValueError, match="no callable 'NOT_CALLABLE'"):
        make_environment(f"python:{factory_module}:NOT_CALLABLE")


def test_python_factory_returning_a_non_dm_env_object(factory_module):
    with pytest.raises(TypeError, match="returned str, expected a dm_env.Environment"):
        make_environment(f"python:{factory_module}:not_an_env")


# ----------------------------------------------------------------------------
# Batched environments.
# ----------------------------------------------------------------------------


class CountdownEnv(dm_env.Environment):
    """Episodes of `length` steps; observation = steps taken; reward = 10 * action + 1.

    Records the actions it is stepped with and counts its resets.
    """

    def __init__(self, length: int, obs_shape=(1,), num_actions: int = 4) -> None:
        self.length = length
        self.obs_shape = obs_shape
        self.num_actions = num_actions
        self.t = 0
        self.actions: list[Any] = []
        self.num_resets = 0

    def _obs(self):
        return np.full(self.obs_shape, self.t, np.float32)

    def reset(self):
        self.t = 0
        self.num_resets += 1
        return dm_env.restart(self._obs())

    def step(self, action):
        self.actions.append(action)
        self.t += 1
        reward = np.float32(10 * int(action) + 1)
        if self.t >= self.length:
            return dm_env.termination(reward, self._obs())
        return dm_env.transition(reward, self._obs(), np.float32(0.5))

    def observation_spec(self):
        return specs.Array(self.obs_shape, np.float32, "observation")

    def action_spec(self):
        return specs.DiscreteArray(self.num_actions, dtype=np.int32, name="action")

    def reward_spec(self):
        return specs.Array((), np.float32, "reward")

    def discount_spec(self):
        return specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")


def test_batched_reset_stacks_lanes():
    env = SyncBatchedEnvironment([CountdownEnv(2), CountdownEnv(3)])
    assert env.num_lanes == 2
    ts = env.reset()
    assert list(ts.step_type) == [dm_env.StepType.FIRST] * 2
    np.testing.assert_array_equal(ts.reward, [0.0, 0.0])
    np.testing.assert_array_equal(ts.discount, [1.0, 1.0])
    assert ts.reward.dtype == np.float32 and ts.discount.dtype == np.float32
    assert ts.observation.shape == (2, 1)
    assert env.observation_spec() == CountdownEnv(2).observation_spec()  # Specs are per lane.


def test_lane_restarts_after_last_and_ignores_its_action():
    lanes = [CountdownEnv(2), CountdownEnv(3)]
    env = SyncBatchedEnvironment(lanes)
    env.reset()
    ts = env.step(np.array([1, 2]))
    assert list(ts.step_type) == [dm_env.StepType.MID, dm_env.StepType.MID]
    np.testing.assert_array_equal(ts.reward, [11.0, 21.0])
    np.testing.assert_array_equal(ts.discount, [0.5, 0.5])
    ts = env.step(np.array([0, 3]))
    assert list(ts.step_type) == [dm_env.StepType.LAST, dm_env.StepType.MID]
    np.testing.assert_array_equal(ts.discount, [0.0, 0.5])
    ts = env.step(np.array([3, 1]))  # Lane 0 restarts: its action 3 goes nowhere.
    assert list(ts.step_type) == [dm_env.StepType.FIRST, dm_env.StepType.LAST]
    np.testing.assert_array_equal(ts.reward, [0.0, 11.0])  # FIRST lanes: reward 0...
    np.testing.assert_array_equal(ts.discount, [1.0, 0.0])  # ... and discount 1.
    np.testing.assert_array_equal(ts.observation[:, 0], [0.0, 3.0])
    assert lanes[0].actions == [1, 0]  # The restart step's action was not passed on.
    assert lanes[0].num_resets == 2
    ts = env.step(np.array([2, 2]))
    assert list(ts.step_type) == [dm_env.StepType.MID, dm_env.StepType.FIRST]
    assert lanes[0].actions == [1, 0, 2]
    assert lanes[1].actions == [2, 3, 1]
    assert lanes[1].num_resets == 2


def test_step_before_reset_starts_every_lane():
    lanes = [CountdownEnv(2), CountdownEnv(2)]
    ts = SyncBatchedEnvironment(lanes).step(np.array([1, 1]))
    assert list(ts.step_type) == [dm_env.StepType.FIRST] * 2
    assert [lane.actions for lane in lanes] == [[], []]


def test_nested_observations_and_actions():
    class DictEnv(CountdownEnv):
        def _obs(self):
            return {"t": np.full((1,), self.t, np.float32), "flag": np.asarray(self.t % 2, np.int32)}

        def step(self, action):
            return super().step(action["move"])

        def observation_spec(self):
            return {"t": specs.Array((1,), np.float32), "flag": specs.Array((), np.int32)}

    lanes = [DictEnv(3), DictEnv(3)]
    env = SyncBatchedEnvironment(lanes)
    ts = env.reset()
    assert ts.observation["t"].shape == (2, 1) and ts.observation["flag"].shape == (2,)
    ts = env.step({"move": np.array([1, 2])})
    np.testing.assert_array_equal(ts.reward, [11.0, 21.0])
    np.testing.assert_array_equal(ts.observation["flag"], [1, 1])
    with pytest.raises(ValueError, match="batch of 2 actions"):
        env.step({"move": np.array([1])})


def test_wrong_action_batch_size_raises():
    env = SyncBatchedEnvironment([CountdownEnv(2), CountdownEnv(2)])
    env.reset()
    with pytest.raises(ValueError, match="batch of 2 actions"):
        env.step(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="batch of 2 actions"):
        env.step(np.array([1]))
    with pytest.raises(ValueError, match="batch of 2 actions"):
        env.step(np.int32(1))  # An unbatched action.


def test_mismatched_lane_specs_are_rejected():
    with pytest.raises(ValueError, match="Lane 1"):
        SyncBatchedEnvironment([CountdownEnv(2, obs_shape=(1,)), CountdownEnv(2, obs_shape=(2,))])
    with pytest.raises(ValueError, match="Lane 2"):
        SyncBatchedEnvironment([CountdownEnv(2), CountdownEnv(3), CountdownEnv(2, num_actions=5)])
    with pytest.raises(ValueError, match="at least one"):
        SyncBatchedEnvironment([])
    # Different episode lengths with equal specs are fine.
    assert SyncBatchedEnvironment([CountdownEnv(2), CountdownEnv(7)]).num_lanes == 2


def test_as_batched():
    plain = CountdownEnv(2)
    batched = as_batched(plain)
    assert isinstance(batched, SyncBatchedEnvironment)
    assert batched.lanes == [plain]
    assert as_batched(batched) is batched


def test_close_closes_every_lane():
    class ClosingEnv(CountdownEnv):
        closed = False

        def close(self):
            self.closed = True

    lanes = [ClosingEnv(2), ClosingEnv(2)]
    SyncBatchedEnvironment(lanes).close()
    assert all(lane.closed for lane in lanes)


def test_make_batched_environment_seeds_lanes(factory_module):
    env = make_batched_environment(f"python:{factory_module}:make_env", num_envs=3, seed=10)
    assert sys.modules[factory_module].CREATED == [10, 11, 12]
    ts = env.reset()
    np.testing.assert_array_equal(ts.observation[:, 0], [10.0, 11.0, 12.0])
    assert ts.observation.dtype == np.float32  # Every lane is single precision.
    ts = env.step(np.zeros(3, np.int32))
    assert ts.reward.dtype == np.float32
    np.testing.assert_array_equal(ts.reward, [1.0, 1.0, 1.0])


def test_make_batched_gym_lanes_match_single_seeded_envs():
    env = make_batched_environment("gym:CartPole-v1", num_envs=2, seed=5)
    first = env.reset().observation
    assert first.shape == (2, 4) and first.dtype == np.float32
    for i in range(2):
        np.testing.assert_array_equal(first[i], make_environment("gym:CartPole-v1", seed=5 + i).reset().observation)
    assert not np.array_equal(first[0], first[1])
    env.close()


def test_make_batched_environment_validates_before_building():
    with pytest.raises(ValueError, match="num_envs"):
        make_batched_environment("gridworld:simple", num_envs=0)
    with pytest.raises(ValueError, match="Unknown environment name"):
        make_batched_environment("nothing", num_envs=2)
