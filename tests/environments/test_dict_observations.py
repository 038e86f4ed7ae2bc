"""A dict observation batches alike on every backend: sync, subprocess and (for gym:<id>) gym."""

from __future__ import annotations

import pathlib
import sys

import dm_env
import gymnasium
import numpy as np
import pytest

from environments.gym_adapter import DmEnvToGymnasium
from environments.registry import make_batched_environment

_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # Subprocess workers import the factory by name.
    sys.path.append(_ROOT)

from tests.agents.dict_env import SideAndFlip  # noqa: E402
from tests.support import assert_identical_timesteps  # noqa: E402

DICT_TASK = "python:tests.agents.dict_env:make_dict_task"
gymnasium.register("AgentpipeSideAndFlip-v0", entry_point=lambda: DmEnvToGymnasium(SideAndFlip(seed=3)),
                   max_episode_steps=50)


def _play(env, steps: int = 40) -> list[dm_env.TimeStep]:
    rng = np.random.default_rng(0)
    timesteps = [env.reset()]
    for _ in range(steps):
        timesteps.append(env.step(rng.integers(0, 2, env.num_lanes).astype(env.action_spec().dtype)))
    env.close()
    return timesteps


def _assert_identical(a: list[dm_env.TimeStep], b: list[dm_env.TimeStep]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert_identical_timesteps(x, y)


def test_a_dict_observation_is_batched_per_key():
    env = make_batched_environment(DICT_TASK, 3, seed=1, backend="sync")
    spec = env.observation_spec()
    assert sorted(spec) == ["flip", "image"]
    timestep = env.reset()
    assert timestep.observation["image"].shape == (3, 1, 3, 3) and timestep.observation["image"].dtype == np.uint8
    assert timestep.observation["flip"].shape == (3,)
    env.close()


def test_subprocess_lanes_give_the_sync_lanes_dict_timesteps():
    _assert_identical(_play(make_batched_environment(DICT_TASK, 2, seed=5, backend="sync")),
                      _play(make_batched_environment(DICT_TASK, 2, seed=5, backend="subprocess")))


@pytest.mark.parametrize("lanes", [1, 3])
def test_gym_lanes_give_the_sync_lanes_dict_timesteps(lanes):
    name = "gym:AgentpipeSideAndFlip-v0"
    sync, fast = (make_batched_environment(name, lanes, seed=5, backend=b) for b in ("sync", "gym"))
    assert fast.observation_spec() == sync.observation_spec()
    _assert_identical(_play(sync), _play(fast))
