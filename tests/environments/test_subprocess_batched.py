"""Tests for `environments.subprocess_batched.SubprocessBatchedEnvironment`.

The fake environments live at module level so that worker processes can
unpickle them: workers import this module by name (`tests.environments...`).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pathlib
import sys
import time

import dm_env
import numpy as np
import pytest
import tree
from dm_env import specs

from environments import registry
from environments.batched import SyncBatchedEnvironment
from environments.subprocess_batched import SubprocessBatchedEnvironment

# Workers start from a fresh interpreter with the parent's sys.path. `python -m
# pytest` puts the repository root on it; the bare `pytest` script does not, and
# then workers could not import this module to unpickle the fake environments.
_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

# ----------------------------------------------------------------------------
# Fake lane environments (module level, so they pickle by reference).
# ----------------------------------------------------------------------------


class CountingEnv(dm_env.Environment):
    """Episodes whose length depends on the seed; random rewards; ends by
    termination (discount 0) or truncation (discount 1) in turn."""

    def __init__(self, seed: int, base_length: int = 3) -> None:
        self.seed = seed
        self.length = base_length + 2 * (seed % 3)
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.episodes = 0
        self.total = 0.0

    def _obs(self, action: int) -> np.ndarray:
        return np.array([self.seed, self.t, action, self.rng.normal()], dtype=np.float32)

    def reset(self) -> dm_env.TimeStep:
        self.t = 0
        self.total = 0.0
        return dm_env.restart(self._obs(-1))

    def step(self, action) -> dm_env.TimeStep:
        self.t += 1
        reward = np.float32(self.rng.normal() + int(action))
        self.total += float(reward)
        obs = self._obs(int(action))
        if self.t >= self.length:
            self.episodes += 1
            if self.episodes % 2:
                return dm_env.termination(reward, obs)
            return dm_env.truncation(reward, obs)
        return dm_env.transition(reward, obs, discount=np.float32(0.5 + 0.5 * (self.t % 2)))

    def observation_spec(self):
        return specs.Array((4,), np.float32, "observation")

    def action_spec(self):
        return specs.DiscreteArray(3, dtype=np.int32, name="action")

    def reward_spec(self):
        return specs.Array((), np.float32, "reward")

    def discount_spec(self):
        return specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")

    def episode_info(self) -> dict[str, float]:
        return {"seed": float(self.seed), "episodes": float(self.episodes), "total": self.total}


class DictObsEnv(CountingEnv):
    """Nested observations of several dtypes and shapes."""

    def _obs(self, action: int):
        pixels = np.full((4, 5, 3), (self.seed * 16 + self.t) % 256, dtype=np.uint8)
        pixels[0, 0] = np.arange(3, dtype=np.uint8) + self.t
        return {
            "pixels": pixels,
            "state": {
                "pos": np.array([self.t, -self.seed], dtype=np.float64),
                "t": np.int32(self.t),
            },
            "flags": (np.array([action > 0, self.t % 2 == 0]),),
        }

    def observation_spec(self):
        return {
            "pixels": specs.Array((4, 5, 3), np.uint8, "pixels"),
            "state": {"pos": specs.Array((2,), np.float64, "pos"), "t": specs.Array((), np.int32, "t")},
            "flags": (specs.Array((2,), bool, "flags"),),
        }


class FaultyEnv(CountingEnv):
    """Lane `bad_seed` misbehaves at step `at_step`: raises, exits, or hangs."""

    def __init__(self, seed: int, mode: str, bad_seed: int = 1, at_step: int = 3) -> None:
        super().__init__(seed, base_length=100)
        self.mode, self.bad, self.at_step, self.steps = mode, seed == bad_seed, at_step, 0

    def step(self, action):
        self.steps += 1
        if self.bad and self.steps == self.at_step:
            if self.mode == "raise":
                raise ValueError("boom from the lane environment")
            if self.mode == "exit":
                os._exit(3)
            if self.mode == "hang":
                time.sleep(30)
        return super().step(action)


def make_counting(seed: int, base_length: int = 3) -> CountingEnv:
    return CountingEnv(seed, base_length)


def make_dict(seed: int) -> DictObsEnv:
    return DictObsEnv(seed)


def make_faulty(seed: int, mode: str) -> FaultyEnv:
    return FaultyEnv(seed, mode)


def make_broken(seed: int) -> dm_env.Environment:
    if seed == 1:
        raise OSError("no ROM for lane 1")
    return CountingEnv(seed)


# ----------------------------------------------------------------------------
# Leak checks around every test.
# ----------------------------------------------------------------------------


def _shm_entries() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.fixture(autouse=True)
def no_leaks():
    before = _shm_entries()
    yield
    assert multiprocessing.active_children() == []
    assert _shm_entries() - before == set()


def _assert_closed(env: SubprocessBatchedEnvironment, pids: list[int]) -> None:
    assert env.closed
    assert multiprocessing.active_children() == []
    for pid in pids:  # Joined, so not even a zombie is left.
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _pids(env: SubprocessBatchedEnvironment) -> list[int]:
    return [p.pid for p in env._resources.processes]


def _assert_timesteps_equal(expected: dm_env.TimeStep, actual: dm_env.TimeStep) -> None:
    np.testing.assert_array_equal(actual.step_type, expected.step_type)
    np.testing.assert_array_equal(actual.reward, expected.reward)
    np.testing.assert_array_equal(actual.discount, expected.discount)
    assert actual.reward.dtype == expected.reward.dtype and actual.discount.dtype == expected.discount.dtype
    tree.assert_same_structure(expected.observation, actual.observation)
    for e, a in zip(tree.flatten(expected.observation), tree.flatten(actual.observation)):
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_array_equal(a, e)


def _compare_with_sync(factory, num_lanes: int, num_steps: int, seed: int = 0) -> None:
    sync = SyncBatchedEnvironment.from_factory(factory, num_lanes, seed)
    rng = np.random.default_rng(123)
    with SubprocessBatchedEnvironment(factory, num_lanes, seed=seed) as env:
        assert env.num_lanes == num_lanes
        assert env.observation_spec() == sync.observation_spec()
        assert env.action_spec() == sync.action_spec()
        assert env.reward_spec() == sync.reward_spec()
        assert env.discount_spec() == sync.discount_spec()
        _assert_timesteps_equal(sync.reset(), env.reset())
        num_actions = sync.action_spec().num_values
        saw_first_after_last = False
        previous = None
        for _ in range(num_steps):
            action = rng.integers(0, num_actions, size=num_lanes).astype(sync.action_spec().dtype)
            expected, actual = sync.step(action), env.step(action)
            _assert_timesteps_equal(expected, actual)
            if previous is not None:
                restarted = (previous.step_type == dm_env.StepType.LAST) & (actual.step_type == dm_env.StepType.FIRST)
                saw_first_after_last |= bool(restarted.any())
                assert np.all(actual.step_type[previous.step_type == dm_env.StepType.LAST] == dm_env.StepType.FIRST)
            for lane in np.flatnonzero(actual.step_type == dm_env.StepType.LAST):
                assert env.episode_info(int(lane)) == sync.episode_info(int(lane))
            previous = actual
        assert saw_first_after_last
        pids = _pids(env)
    _assert_closed(env, pids)
    sync.close()


# ----------------------------------------------------------------------------
# Semantics.
# ----------------------------------------------------------------------------


def test_matches_sync_step_by_step_with_different_episode_lengths():
    # Lanes 0, 1, 2 have episodes of 3, 5, 7 steps: they end out of step.
    _compare_with_sync(make_counting, num_lanes=3, num_steps=300)


def test_matches_sync_on_gridworld():
    factory = functools.partial(registry.make_environment, "gridworld:simple", max_episode_length=15)
    _compare_with_sync(factory, num_lanes=2, num_steps=200, seed=7)


def test_nested_dict_observations_round_trip_through_shared_memory():
    _compare_with_sync(make_dict, num_lanes=2, num_steps=40, seed=3)


def test_first_lane_reward_zero_discount_one_and_returned_observations_are_copies():
    with SubprocessBatchedEnvironment(make_counting, 2) as env:
        first = env.reset()
        assert list(first.step_type) == [dm_env.StepType.FIRST] * 2
        np.testing.assert_array_equal(first.reward, [0.0, 0.0])
        np.testing.assert_array_equal(first.discount, [1.0, 1.0])
        kept = first.observation.copy()
        env.step(np.array([1, 2], dtype=np.int32))
        np.testing.assert_array_equal(first.observation, kept)  # Not overwritten by the next step.
        with pytest.raises(ValueError, match="one per lane"):
            env.step(np.array([1, 2, 0], dtype=np.int32))
        assert not env.closed  # A bad action batch is the caller's error, not the workers'.


def test_mismatched_lane_specs_are_rejected():
    with pytest.raises(ValueError, match="Lane 1 has specs.*all lanes must match"):
        SubprocessBatchedEnvironment(_lane_dependent_shape, 2)


class _ShapedEnv(CountingEnv):
    def observation_spec(self):
        return specs.Array((4 + self.seed,), np.float32, "observation")


def _lane_dependent_shape(seed: int) -> dm_env.Environment:
    return _ShapedEnv(seed)


# ----------------------------------------------------------------------------
# Failures.
# ----------------------------------------------------------------------------


def _run_until_failure(env: SubprocessBatchedEnvironment) -> None:
    env.reset()
    for _ in range(10):
        env.step(np.zeros(env.num_lanes, dtype=np.int32))


def test_worker_exception_is_raised_with_lane_and_traceback():
    env = SubprocessBatchedEnvironment(functools.partial(make_faulty, mode="raise"), 3)
    pids = _pids(env)
    with pytest.raises(RuntimeError, match="Lane 1") as info:
        _run_until_failure(env)
    assert "boom from the lane environment" in str(info.value)
    assert "Traceback" in str(info.value) and "in step" in str(info.value)
    _assert_closed(env, pids)
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()


def test_exception_while_building_an_environment():
    with pytest.raises(RuntimeError, match="Lane 1") as info:
        SubprocessBatchedEnvironment(make_broken, 2)
    assert "no ROM for lane 1" in str(info.value)


def test_dead_worker_is_reported_with_exit_code():
    env = SubprocessBatchedEnvironment(functools.partial(make_faulty, mode="exit"), 2)
    pids = _pids(env)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"Lane 1.*exit code 3"):
        _run_until_failure(env)
    assert time.monotonic() - start < 5.0
    _assert_closed(env, pids)


def test_killed_worker_is_reported():
    env = SubprocessBatchedEnvironment(make_counting, 2)
    pids = _pids(env)
    env.reset()
    os.kill(pids[0], 9)
    with pytest.raises(RuntimeError, match=r"Lane 0.*exit code -9"):
        env.step(np.zeros(2, dtype=np.int32))
    _assert_closed(env, pids)


def test_hanging_worker_times_out():
    env = SubprocessBatchedEnvironment(functools.partial(make_faulty, mode="hang"), 2, step_timeout=1.0)
    pids = _pids(env)
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="Lane 1"):
        _run_until_failure(env)
    assert time.monotonic() - start < 5.0
    _assert_closed(env, pids)


def test_unpicklable_factory_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="functools.partial") as info:
        SubprocessBatchedEnvironment(lambda seed: CountingEnv(seed), 2)
    assert "module-level function" in str(info.value)


# ----------------------------------------------------------------------------
# Shutdown.
# ----------------------------------------------------------------------------


def test_close_is_idempotent_and_releases_everything():
    before = _shm_entries()
    env = SubprocessBatchedEnvironment(make_dict, 2)
    pids = _pids(env)
    assert len(_shm_entries() - before) == 4  # One block per observation leaf.
    assert len(multiprocessing.active_children()) == 2
    env.reset()
    env.close()
    env.close()
    _assert_closed(env, pids)
    assert _shm_entries() == before


def test_garbage_collection_closes_the_workers():
    env = SubprocessBatchedEnvironment(make_counting, 2)
    env.reset()
    pids = _pids(env)
    del env
    import gc

    gc.collect()
    assert multiprocessing.active_children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_spawn_start_method_works():
    with SubprocessBatchedEnvironment(make_counting, 1, start_method="spawn") as env:
        assert env.reset().observation.shape == (1, 4)
