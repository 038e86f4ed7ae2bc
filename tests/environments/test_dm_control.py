"""The dmc:<domain>-<task> prefix: the suite's own timesteps, a flat float observation, the task's bounds."""

from __future__ import annotations

import dm_env
import numpy as np
import pytest
from dm_env import specs

pytest.importorskip("dm_control")

from environments.dm_control_suite import make_dm_control, suite_tasks  # noqa: E402
from environments.registry import make_environment  # noqa: E402


def test_specs_types_and_bounds():
    env = make_environment("dmc:cartpole-balance", seed=0)
    observation, action = env.observation_spec(), env.action_spec()
    assert isinstance(observation, specs.Array) and observation.shape == (5,) and observation.dtype == np.float32
    assert isinstance(action, specs.BoundedArray) and action.shape == (1,) and action.dtype == np.float32
    np.testing.assert_array_equal(action.minimum, [-1.0]) and np.testing.assert_array_equal(action.maximum, [1.0])
    assert env.discount_spec().dtype == np.float32 and env.reward_spec().dtype == np.float32
    env.close()


def test_the_flat_observation_concatenates_the_dict_in_the_task_order():
    flat = make_dm_control("walker-walk", seed=4)
    keyed = make_dm_control("walker-walk", seed=4, flatten=False)
    vector, entries = flat.reset().observation, keyed.reset().observation
    assert list(flat.observation_keys()) == list(entries) == ["orientations", "height", "velocity"]
    for key, where in flat.observation_keys().items():
        np.testing.assert_array_equal(vector[where], np.asarray(entries[key], np.float32).ravel())
    assert vector.shape == flat.observation_spec().shape == (24,)


def test_first_mid_last_and_the_time_limit_is_a_truncation():
    env = make_environment("dmc:cartpole-swingup", seed=1, time_limit=0.5)  # 50 control steps of 10 ms.
    first = env.reset()
    assert first.step_type == dm_env.StepType.FIRST and first.reward is None
    kinds = []
    rng = np.random.default_rng(0)
    while True:
        timestep = env.step(rng.uniform(-1, 1, 1).astype(np.float32))
        kinds.append(timestep.step_type)
        if timestep.last():
            break
    assert kinds[:-1] == [dm_env.StepType.MID] * (len(kinds) - 1) and len(kinds) == 50
    assert timestep.discount == 1.0  # Cut by the time limit, not terminated: bootstrap from it.
    assert env.reset().first()
    env.close()


def test_the_seed_is_the_suites():
    def first_observation(seed):
        return make_dm_control("cheetah-run", seed=seed).reset().observation

    np.testing.assert_array_equal(first_observation(3), first_observation(3))
    assert not np.array_equal(first_observation(3), first_observation(4))


def test_action_repeat_sums_rewards_and_shortens_episodes():
    once, twice = make_dm_control("cartpole-balance", 0, time_limit=0.2), make_dm_control(
        "cartpole-balance", 0, time_limit=0.2, action_repeat=2)
    for env in (once, twice):
        env.reset()
    rewards_once = [once.step(np.zeros(1)).reward for _ in range(2)]
    assert twice.step(np.zeros(1)).reward == pytest.approx(sum(rewards_once))
    steps = 1  # The step above; 20 control steps of 10 ms in pairs make 10.
    while not twice.step(np.zeros(1)).last():
        steps += 1
    assert steps + 1 == 10


@pytest.mark.parametrize("name, message", [
    ("dmc:walkr-walk", r"Unknown dm_control domain .*walkr.*acrobot, ball_in_cup"),
    ("dmc:walker-sprint", r"walker has no task 'sprint'; its tasks: stand, walk, run"),
    ("dmc:walker", r"Expected dmc:<domain>-<task>"),
])
def test_an_unknown_domain_or_task_fails_listing_what_exists(name, message):
    with pytest.raises(ValueError, match=message):
        make_environment(name)


def test_every_listed_domain_has_tasks():
    tasks = suite_tasks()
    assert {"walker", "cheetah", "cartpole", "ball_in_cup"} <= set(tasks)
    assert "catch" in tasks["ball_in_cup"]
