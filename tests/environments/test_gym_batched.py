"""The gym backend: the same lanes as the sync backend over gym:<id>, with its checks on whole batches."""

from __future__ import annotations

import dm_env
import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from environments.gym_batched import GymnasiumBatchedEnvironment
from environments.registry import make_batched_environment, resolve_backend
from environments.validation import CheckedLanes, EnvironmentSpecError
from tests.support import assert_identical_timesteps

LAST = int(dm_env.StepType.LAST)


def _random_actions(env, rng: np.random.Generator) -> np.ndarray:
    spec, n = env.action_spec(), env.num_lanes
    if hasattr(spec, "num_values"):
        return rng.integers(0, spec.num_values, n).astype(spec.dtype)
    return rng.uniform(spec.minimum, spec.maximum, (n,) + spec.shape).astype(spec.dtype)


@pytest.mark.parametrize("name, lanes, steps", [("gym:CartPole-v1", 3, 300), ("gym:Pendulum-v1", 2, 450),
                                                ("gym:Blackjack-v1", 3, 200)])  # Blackjack: a Tuple observation.
def test_gym_lanes_match_sync_lanes_exactly(name, lanes, steps):
    sync = make_batched_environment(name, lanes, seed=7, backend="sync")
    fast = make_batched_environment(name, lanes, seed=7, backend="gym")
    assert isinstance(fast.environment, GymnasiumBatchedEnvironment)  # Inside the batch checks of every backend.
    for method in ("observation_spec", "action_spec", "reward_spec", "discount_spec"):
        assert getattr(fast, method)() == getattr(sync, method)(), method
    rng = np.random.default_rng(0)
    pairs = [(sync.reset(), fast.reset())]
    for _ in range(steps):
        actions = _random_actions(sync, rng)
        pairs.append((sync.step(actions), fast.step(actions)))
    for a, b in pairs:
        assert_identical_timesteps(a, b)
    ends = [(ts.step_type == LAST, ts.discount) for ts, _ in pairs]
    assert any(last.any() for last, _ in ends), "no episode ended: the comparison missed the auto-reset"
    if name == "gym:Pendulum-v1":  # Truncated at 200 steps: LAST with discount 1.
        assert all(discount[last].tolist() == [1.0] * int(last.sum()) for last, discount in ends)
    sync.close()
    fast.close()


class _TupleActions(gymnasium.Env):
    """A gymnasium env whose action space is a Tuple: the one kind of space the gym backend leaves to sync."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


gymnasium.register("AgentpipeTupleActions-v0", entry_point=_TupleActions, max_episode_steps=10)


def test_auto_picks_gym_for_the_spaces_it_batches_and_sync_otherwise():
    assert resolve_backend("auto", "gym:CartPole-v1", 4) == "gym"
    assert resolve_backend("auto", "gym:Pendulum-v1", 1) == "gym"
    assert resolve_backend("auto", "gym:Blackjack-v1", 4) == "gym"  # A Tuple observation, batched per leaf.
    assert resolve_backend("auto", "gym:AgentpipeTupleActions-v0", 4) == "sync"
    assert resolve_backend("auto", "gym:NoSuchEnv-v0", 4) == "sync"  # The sync path says what is wrong.
    with pytest.raises(ValueError, match="gym backend runs only gym:<id>"):
        resolve_backend("gym", "gridworld:simple", 2)


def test_unsupported_spaces_are_refused_with_the_way_out():
    with pytest.raises(ValueError, match="action space is Tuple.*--env_backend=sync"):
        make_batched_environment("gym:AgentpipeTupleActions-v0", 2, backend="gym")


@pytest.fixture
def cartpole():
    env = make_batched_environment("gym:CartPole-v1", 2, seed=0, backend="gym")
    env.reset()
    yield env
    env.close()


@pytest.mark.parametrize("action, match", [
    (np.array([0, 2]), "lane 1 is invalid: value 2 is outside the spec's bounds"),
    (np.array([0.0, 1.0]), "lane 0 is invalid: dtype float64 .* not of the spec's kind"),
    (np.array([0, 1, 1]), r"batch of 2 actions.*\(2,\)"),
    ([0, 1], "batch of 2 actions"),
])
def test_bad_discrete_actions_are_named(cartpole, action, match):
    with pytest.raises(EnvironmentSpecError, match=match):
        cartpole.step(action)


@pytest.mark.parametrize("bad", [np.nan, 2.5])
def test_bad_box_actions_are_named(bad):
    env = make_batched_environment("gym:Pendulum-v1", 2, seed=0, backend="gym")
    env.reset()
    actions = np.zeros((2, 1), np.float32)
    actions[1, 0] = bad
    with pytest.raises(EnvironmentSpecError, match="lane 1"):
        env.step(actions)
    env.close()


class _Faulty(gymnasium.Env):
    """A Box environment that misbehaves from step `at` on: a NaN reward, or an observation of the wrong shape."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, fault: str, at: int) -> None:
        self.fault, self.at, self.t = fault, at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        reward, observation = 1.0, np.zeros(3, np.float32)
        if self.t >= self.at:
            if self.fault == "nan_reward":
                reward = float("nan")
            elif self.fault == "shape":
                observation = np.zeros(4, np.float32)
            elif self.fault == "bounds":
                observation = np.full(3, 5.0, np.float32)
        return observation, reward, False, False, {}


@pytest.mark.parametrize("fault, at, full, match", [
    ("nan_reward", 150, False, r"reward at step\(\) call 150 of lane 1 is not finite"),  # Checked on every step.
    ("shape", 150, False, r"lane 1 gave an observation of shape \(4,\).*Box"),
    ("bounds", 5, True, r"observation at step\(\) call 5 of lane 1.*outside the spec's bounds"),  # check_env=full
])
def test_faults_are_reported_with_lane_and_step(fault, at, full, match):
    lanes = GymnasiumBatchedEnvironment([_Faulty("none", 10**9), _Faulty(fault, at)], seed=0, name="faulty")
    env = CheckedLanes(lanes, "faulty", full=full)
    env.reset()
    with pytest.raises(EnvironmentSpecError, match=match):
        for _ in range(200):
            env.step(np.zeros(2, np.int32))


def test_out_of_bounds_observations_pass_the_cheap_checks():
    """Without check_env=full only actions and rewards are checked per step (the start-up check covers the rest)."""
    env = CheckedLanes(GymnasiumBatchedEnvironment([_Faulty("bounds", 5)], seed=0, name="faulty"), "faulty")
    env.reset()
    for _ in range(10):
        timestep = env.step(np.zeros(1, np.int32))
    assert timestep.observation.max() == 5.0
