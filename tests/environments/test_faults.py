"""Fault injection: broken environments and bad actions fail at the boundary, with messages that say what and where.

Every faulty environment here is built the way a user's would be, through
`registry.make_environment("python:<module>:<factory>")`. Three layers of
checks are tested (`environments.validation`): the start-up check
(`check_environment`, 100 random steps of one extra lane), the cheap checks of
every batch (`CheckedLanes`: actions and rewards), and per-step checking of
every lane (`check=True`, the run field `check_env=full`).
Subprocess cases check that failures name the lane, that no worker is left
running or as a zombie, and that no shared memory block is left in /dev/shm.
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
from dm_env import specs

from environments import registry, subprocess_batched
from environments.subprocess_batched import SubprocessBatchedEnvironment
from environments.validation import CHECKED_STEPS, EnvironmentSpecError, check_environment

_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # Workers and python: factories import this module by name.
    sys.path.append(_ROOT)

_MODULE = "tests.environments.test_faults"
FAULTY = f"python:{_MODULE}:make_faulty"


# ----------------------------------------------------------------------------
# A lane environment that misbehaves on request (module level: workers unpickle it by name).
# ----------------------------------------------------------------------------


class FaultyEnv(dm_env.Environment):
    """(4,) float32 observations, 3 discrete actions, `length`-step episodes; does not reset itself after LAST.

    `fault` happens at step() call `at` of the lane whose seed is `bad_seed`
    (every lane when None): 'raise', 'nan_reward', 'inf_reward', 'wrong_shape',
    'wrong_dtype', 'bad_discount', 'first_midway', 'hang', or 'none'.
    `reset_fault` breaks reset(): 'wrong_shape', 'mid', 'reward_on_first'.
    """

    def __init__(self, seed: int, fault: str = "none", at: int = 3, bad_seed: int | None = None,
                 reset_fault: str = "none", length: int = 500) -> None:
        self._fault = fault if bad_seed is None or seed == bad_seed else "none"
        self._reset_fault = reset_fault
        self._at = at
        self._length = length
        self._calls = 0
        self._t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self._t, 0.5, -0.5, 1.0], np.float32)

    def reset(self) -> dm_env.TimeStep:
        self._t = 0
        if self._reset_fault == "wrong_shape":
            return dm_env.restart(np.zeros(3, np.float32))
        if self._reset_fault == "mid":
            return dm_env.transition(0.0, self._obs())
        if self._reset_fault == "reward_on_first":
            return dm_env.TimeStep(dm_env.StepType.FIRST, 0.0, 1.0, self._obs())
        return dm_env.restart(self._obs())

    def step(self, action) -> dm_env.TimeStep:
        self._calls += 1
        self._t += 1
        reward, observation, discount = np.float32(int(action)), self._obs(), 1.0
        if self._calls == self._at:
            fault = self._fault
            if fault == "raise":
                raise RuntimeError("the physics engine exploded")
            if fault == "hang":
                time.sleep(60)
            if fault == "nan_reward":
                reward = np.float32("nan")
            if fault == "inf_reward":
                reward = np.inf
            if fault == "wrong_shape":
                observation = np.zeros(5, np.float32)
            if fault == "wrong_dtype":
                observation = observation.astype(np.complex64)
            if fault == "bad_discount":
                discount = 1.5
            if fault == "first_midway":
                return dm_env.restart(observation)
        if self._t >= self._length:  # No reset here: a step() after LAST goes on with the old episode.
            return dm_env.termination(reward, observation)
        return dm_env.transition(reward, observation, discount)

    def observation_spec(self):
        return specs.Array((4,), np.float32, "observation")

    def action_spec(self):
        return specs.DiscreteArray(3, dtype=np.int64, name="action")


def make_faulty(seed: int = 0, **kwargs) -> FaultyEnv:
    return FaultyEnv(seed, **kwargs)


class ImageEnv(FaultyEnv):
    """uint8 image spec, float64 images in [0, 1]: a cast would silently make them black."""

    def _obs(self):
        return np.full((2, 2), 0.5)

    def observation_spec(self):
        return specs.BoundedArray((2, 2), np.uint8, 0, 255, "pixels")


def make_image(seed: int = 0) -> ImageEnv:
    return ImageEnv(seed)


class ContinuousEnv(FaultyEnv):
    """A float64 BoundedArray action in [-0.1, 0.3] (bounds that float32 cannot hold exactly)."""

    def step(self, action):
        return super().step(0)

    def action_spec(self):
        return specs.BoundedArray((2,), np.float64, -0.1, 0.3, "force")


def make_continuous(seed: int = 0) -> ContinuousEnv:
    return ContinuousEnv(seed)


class BadSpecEnv(FaultyEnv):
    def __init__(self, seed: int, which: str) -> None:
        super().__init__(seed)
        self._which = which

    def observation_spec(self):
        if self._which == "gym_space":
            import gymnasium

            return gymnasium.spaces.Box(-1, 1, (4,))
        if self._which == "none":
            return None
        if self._which == "nan_bounds":
            return specs.BoundedArray((4,), np.float32, [0, 0, np.nan, 0], 1)
        if self._which == "string":
            return specs.StringArray((4,))
        return super().observation_spec()

    def reward_spec(self):
        if self._which == "vector_reward":
            return specs.Array((2,), np.float32, "reward")
        return super().reward_spec()

    def action_spec(self):
        if self._which == "raises":
            raise KeyError("no action table loaded")
        return super().action_spec()


def make_bad_spec(seed: int = 0, which: str = "none") -> BadSpecEnv:
    return BadSpecEnv(seed, which)


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def _run(env: dm_env.Environment, steps: int, action=1) -> None:
    env.reset()
    for _ in range(steps):
        env.step(action)


def _shm_entries() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _state(pid: int) -> str | None:
    """The /proc state letter of `pid` (Z: zombie), or None when no such process exists."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _zombie_children() -> list[int]:
    """Zombies whose parent is this process or its multiprocessing forkserver."""
    parents = {os.getpid()}
    forkserver = getattr(multiprocessing.forkserver, "_forkserver", None)
    if getattr(forkserver, "_forkserver_pid", None):
        parents.add(forkserver._forkserver_pid)
    zombies = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) in parents:
                zombies.append(int(entry))
    return zombies


def _pids(env: SubprocessBatchedEnvironment) -> list[int]:
    return [process.pid for process in env._resources.processes]


def _lane_factory(**kwargs):
    return functools.partial(registry.make_environment, FAULTY, **kwargs)


def _checked(name: str = FAULTY, **kwargs) -> dm_env.Environment:
    """A registry environment checked on every step (check_env=full)."""
    return registry.make_environment(name, check=True, **kwargs)


@pytest.fixture
def no_leaks(monkeypatch):
    """Around subprocess tests: no worker left, no zombie, no shared memory block left behind.

    The blocks checked are the ones this test created (recorded as they are made): /dev/shm is shared with
    the other pytest-xdist worker, whose own subprocess tests create and free blocks meanwhile.
    """
    created: list[str] = []
    original = subprocess_batched.shared_memory.SharedMemory

    def recording(*args, **kwargs):
        memory = original(*args, **kwargs)
        if kwargs.get("create"):
            created.append(memory.name.lstrip("/"))
        return memory

    monkeypatch.setattr(subprocess_batched.shared_memory, "SharedMemory", recording)
    yield
    assert multiprocessing.active_children() == []
    deadline = time.monotonic() + 5.0
    while _zombie_children() and time.monotonic() < deadline:  # The forkserver reaps its children promptly.
        time.sleep(0.05)
    assert _zombie_children() == []
    assert set(created) & _shm_entries() == set()


def _assert_workers_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 5.0
    while any(_state(pid) is not None for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [_state(pid) for pid in pids] == [None] * len(pids)  # Neither running nor a zombie.


# ----------------------------------------------------------------------------
# Exceptions inside step.
# ----------------------------------------------------------------------------


def test_sync_exception_propagates_with_the_environments_own_message():
    env = registry.make_batched_environment(FAULTY, 2, backend="sync", fault="raise", bad_seed=1)
    env.reset()
    with pytest.raises(RuntimeError, match="the physics engine exploded"):
        for _ in range(5):
            env.step(np.ones(2, np.int64))


def test_subprocess_exception_names_the_lane(no_leaks):
    env = SubprocessBatchedEnvironment(_lane_factory(fault="raise", bad_seed=1), 2)
    pids = _pids(env)
    with pytest.raises(RuntimeError, match=r"Lane 1's environment raised an exception while stepping") as info:
        _run(env, 5, np.ones(2, np.int64))
    assert "the physics engine exploded" in str(info.value)
    assert env.closed
    _assert_workers_gone(pids)


# ----------------------------------------------------------------------------
# NaN / inf rewards.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["nan_reward", "inf_reward"])
def test_non_finite_reward_names_the_step_when_every_step_is_checked(fault):
    env = _checked(fault=fault, at=CHECKED_STEPS + 50)
    with pytest.raises(EnvironmentSpecError, match=rf"'{FAULTY}': reward at step\(\) call {CHECKED_STEPS + 50}\b") \
            as info:
        _run(env, CHECKED_STEPS + 52)
    assert "not finite" in str(info.value)
    assert ("nan" if fault == "nan_reward" else "inf") in str(info.value)


@pytest.mark.parametrize("backend", ["sync", "subprocess"])
@pytest.mark.parametrize("fault", ["nan_reward", "inf_reward"])
def test_every_batch_checks_its_rewards_naming_lane_and_step(fault, backend, no_leaks):
    """Long after the start-up check, without per-step checking: the batch's rewards are still checked."""
    env = registry.make_batched_environment(FAULTY, 2, backend=backend, fault=fault, at=CHECKED_STEPS + 50,
                                            bad_seed=1)
    try:
        with pytest.raises(EnvironmentSpecError, match=rf"'{FAULTY}': reward at step\(\) call {CHECKED_STEPS + 50}"
                                                       r" of lane 1 is not finite"):
            _run(env, CHECKED_STEPS + 52, np.ones(2, np.int64))
    finally:
        env.close()


def test_nan_reward_in_a_checked_subprocess_lane_names_the_lane_and_the_step(no_leaks):
    env = SubprocessBatchedEnvironment(_lane_factory(check=True, fault="nan_reward", at=4, bad_seed=0), 2)
    with pytest.raises(EnvironmentSpecError, match=r"Lane 0, while stepping: .*reward at step\(\) call 4"):
        _run(env, 6, np.ones(2, np.int64))
    assert env.closed


# ----------------------------------------------------------------------------
# Observations, discounts and step types that do not fit the specs.
# ----------------------------------------------------------------------------


def test_wrong_observation_shape_at_reset_fails_there():
    env = _checked(reset_fault="wrong_shape")
    with pytest.raises(EnvironmentSpecError) as info:
        env.reset()
    message = str(info.value)
    assert f"'{FAULTY}': observation returned by reset() is invalid" in message
    assert "shape (3,) is not the spec's (4,)" in message and "Array(shape=(4,), dtype=float32" in message


@pytest.mark.parametrize("fault, expected", [
    ("wrong_shape", r"observation at step\(\) call 1, step 1 of its episode is invalid: shape \(5,\) is not the "
                    r"spec's \(4,\)"),
    ("wrong_dtype", r"observation at step\(\) call 1.*dtype complex64 \(complex\) is not of the spec's kind "
                    r"\(float32, float\)"),
])
def test_wrong_observation_at_the_first_step(fault, expected):
    env = _checked(fault=fault, at=1)
    env.reset()
    with pytest.raises(EnvironmentSpecError, match=expected):
        env.step(0)


def test_float_image_under_a_uint8_spec_is_caught_before_the_cast():
    env = _checked(f"python:{_MODULE}:make_image")
    with pytest.raises(EnvironmentSpecError, match=r"dtype float64 \(float\) is not of the spec's kind \(uint8"):
        env.reset()


@pytest.mark.parametrize("fault, message", [
    ("bad_discount", r"discount at step\(\) call 2.*outside the spec's bounds \[0.0, 1.0\]"),
    ("first_midway", r"step_type at step\(\) call 2.* is FIRST in the middle of an episode"),
])
def test_bad_discounts_and_step_types(fault, message):
    env = _checked(fault=fault, at=2)
    with pytest.raises(EnvironmentSpecError, match=message):
        _run(env, 3)


@pytest.mark.parametrize("reset_fault, message", [
    ("mid", r"step_type returned by reset\(\) is MID; reset\(\) must give FIRST"),
    ("reward_on_first", r"reward returned by reset\(\) is invalid: a FIRST step must have reward None"),
])
def test_bad_resets(reset_fault, message):
    with pytest.raises(EnvironmentSpecError, match=message):
        _checked(reset_fault=reset_fault).reset()


def test_step_after_last_must_start_a_new_episode():
    env = _checked(length=3)
    _run(env, 3)  # Fine up to its LAST (batched lanes call reset() after a LAST, so they never hit the rule below).
    with pytest.raises(EnvironmentSpecError, match=r"step_type at step\(\) call 4 is LAST; step\(\) on a fresh "
                                                   r"environment or after a LAST step must start a new episode"):
        env.step(0)


@pytest.mark.parametrize("fault", ["wrong_shape", "wrong_dtype", "bad_discount", "first_midway"])
def test_the_start_up_check_finds_a_fault_within_its_steps(fault):
    with pytest.raises(EnvironmentSpecError, match=rf"at step\(\) call {CHECKED_STEPS}\b"):
        check_environment(_checked(fault=fault, at=CHECKED_STEPS), FAULTY)
    check_environment(_checked(fault=fault, at=CHECKED_STEPS + 1), FAULTY)  # Its reach: CHECKED_STEPS steps.


def test_the_start_up_check_sees_values_before_the_cast():
    with pytest.raises(EnvironmentSpecError, match=r"dtype float64 \(float\) is not of the spec's kind \(uint8"):
        check_environment(_checked(f"python:{_MODULE}:make_image"))


def test_the_start_up_check_wraps_an_environment_without_checks():
    with pytest.raises(EnvironmentSpecError, match=r"'plain': observation at step\(\) call 7"):
        check_environment(FaultyEnv(0, fault="wrong_shape", at=7), name="plain")


# ----------------------------------------------------------------------------
# Actions outside the action spec.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("action, message", [
    (3, r"value 3 is outside the spec's bounds \[0, 2\]"),
    (-1, r"value -1 is outside the spec's bounds \[0, 2\]"),
    (np.array([1, 1]), r"shape \(2,\) is not the spec's \(\)"),
    (1.5, r"dtype float64 \(float\) is not of the spec's kind \(int32, signed integer\)"),
    (np.float32(1.0), r"dtype float32 \(float\) is not of the spec's kind"),
    ("left", r"dtype <U4 .* is not of the spec's kind"),
])
def test_discrete_action_outside_the_spec(action, message):
    env = _checked()
    env.reset()
    with pytest.raises(EnvironmentSpecError, match=message) as info:
        env.step(action)
    assert f"Environment '{FAULTY}': action" in str(info.value)
    assert "DiscreteArray(num_values=3" in str(info.value)


@pytest.mark.parametrize("action, message", [
    ([0.0, 0.5], r"value 0.5 at index \(1,\) is outside the spec's bounds"),
    ([np.nan, 0.0], r"contains NaN at index \(0,\)"),
    ([0.0], r"shape \(1,\) is not the spec's \(2,\)"),
])
def test_continuous_action_outside_the_spec(action, message):
    env = _checked(f"python:{_MODULE}:make_continuous")
    env.reset()
    with pytest.raises(EnvironmentSpecError, match=message):
        env.step(np.asarray(action, np.float32))


def test_action_at_the_narrowed_float32_bound_is_accepted():
    env = _checked(f"python:{_MODULE}:make_continuous")
    spec = env.action_spec()  # float32 bounds, rounded from float64 -0.1 and 0.3.
    env.reset()
    env.step(np.broadcast_to(spec.minimum, spec.shape))
    env.step(np.broadcast_to(spec.maximum, spec.shape))


@pytest.mark.parametrize("backend", ["sync", "subprocess"])
def test_every_batch_checks_its_actions(backend, no_leaks):
    env = registry.make_batched_environment(FAULTY, 2, backend=backend)
    try:
        _run(env, CHECKED_STEPS + 5, np.ones(2, np.int64))
        with pytest.raises(EnvironmentSpecError, match=rf"action given to step\(\) call {CHECKED_STEPS + 6} for "
                                                       r"lane 1 is invalid: value 9 is outside"):
            env.step(np.array([0, 9]))
    finally:
        env.close()


def test_a_float_batch_for_a_discrete_spec_is_refused():
    env = registry.make_batched_environment(f"python:{_MODULE}:make_continuous", 2, backend="sync")
    env.reset()
    env.step(np.zeros((2, 2), np.float32))  # In bounds.
    with pytest.raises(EnvironmentSpecError, match=r"lane 0 is invalid: value 0.5 at index \(1,\) is outside"):
        env.step(np.array([[0.0, 0.5], [0.0, 0.0]], np.float32))
    env.close()


# ----------------------------------------------------------------------------
# Malformed specs: at construction.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("which, message", [
    ("gym_space", r"observation_spec\(\) is malformed: Box .* is not a dm_env.specs.Array \(a gymnasium space: "
                  r"wrap the env with environments.gym_adapter.GymnasiumEnvironment\)"),
    ("none", r"observation_spec\(\) returned None; expected a dm_env.specs.Array"),
    ("nan_bounds", r"observation_spec\(\) is malformed: its bounds contain NaN"),
    ("string", r"observation_spec\(\) is malformed: dtype .* is not numeric or bool"),
    ("vector_reward", r"reward_spec\(\) must be a single spec of shape \(\)"),
    ("raises", r"action_spec\(\) raised KeyError: 'no action table loaded'"),
])
def test_malformed_specs_fail_when_the_environment_is_built(which, message):
    name = f"python:{_MODULE}:make_bad_spec"
    with pytest.raises(EnvironmentSpecError, match=message) as info:
        registry.make_environment(name, which=which)
    assert f"Environment {name!r}" in str(info.value)


# ----------------------------------------------------------------------------
# Probing at declaration time.
# ----------------------------------------------------------------------------


class _Closing(FaultyEnv):
    closed = False

    def close(self):
        type(self).closed = True


def test_the_start_up_check_closes_the_environment_after_a_fault():
    _Closing.closed = False
    with pytest.raises(EnvironmentSpecError, match=r"'my-env': observation at step\(\) call 1"):
        check_environment(_Closing(0, fault="wrong_shape", at=1), name="my-env")
    assert _Closing.closed


@pytest.mark.parametrize("name", ["gridworld:simple", "gym:CartPole-v1", "gym:Pendulum-v1", "gym:Blackjack-v1",
                                  f"python:{_MODULE}:make_continuous", "atari:Pong"])
def test_the_start_up_check_passes_good_environments(name):
    check_environment(_checked(name), name)
    check_environment(registry.make_environment(name), name)


# ----------------------------------------------------------------------------
# Hangs and killed workers (subprocess backend).
# ----------------------------------------------------------------------------


def test_hanging_lane_times_out_naming_the_lane(no_leaks):
    env = SubprocessBatchedEnvironment(_lane_factory(fault="hang", bad_seed=1), 2, step_timeout=0.5)
    pids = _pids(env)
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"Lane 1's worker process did not answer within step_timeout=0.5 s "
                                           r"while stepping"):
        _run(env, 5, np.ones(2, np.int64))
    assert time.monotonic() - start < 5.0
    assert env.closed
    _assert_workers_gone(pids)


def test_worker_killed_mid_run_is_reported_with_its_lane(no_leaks):
    env = SubprocessBatchedEnvironment(_lane_factory(), 3)
    pids = _pids(env)
    _run(env, 3, np.ones(3, np.int64))
    os.kill(pids[2], 9)
    with pytest.raises(RuntimeError, match=rf"Lane 2's worker process \(pid {pids[2]}\) died with exit code -9 "
                                           r"while stepping"):
        for _ in range(3):
            env.step(np.ones(3, np.int64))
    assert env.closed
    _assert_workers_gone(pids)
