"""Every backend ends and restarts lanes by one rule (environments.auto_reset), checked on random episode ends.

`RandomEnds` terminates or truncates its episodes at random (from its seeded
RNG), so the same seeds and actions give the same episode ends on every
backend. The sync, subprocess and gym backends must then give identical
timestep sequences, and those must match what the rule predicts from the raw
gymnasium environments stepped by hand. ALE's engine restarts its lanes itself:
its batches must follow the same rule on a game cut short by max_episode_frames.
"""

from __future__ import annotations

import pathlib
import sys

import dm_env
import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from environments.auto_reset import FIRST, LAST, MID
from environments.registry import make_batched_environment

_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # Subprocess workers import this module by name (gymnasium's module:id form).
    sys.path.append(_ROOT)

ENV_ID = "RandomEnds-v0"
NAME = f"gym:tests.environments.test_auto_reset:{ENV_ID}"
LANES, STEPS, SEED = 3, 300, 11


class RandomEnds(gymnasium.Env):
    """Box(3) observations from its RNG, Discrete(2) actions; each step terminates with probability 0.06 and
    is cut by truncation with probability 0.06 (both can happen: termination wins)."""

    observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.standard_normal(3).astype(np.float32), {}

    def step(self, action):
        observation = self.np_random.standard_normal(3).astype(np.float32)
        reward = float(action) + float(self.np_random.random())
        terminated, truncated = self.np_random.random(2) < 0.06
        return observation, reward, bool(terminated), bool(truncated), {}


if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, entry_point=RandomEnds)


def _drive(backend: str, actions: np.ndarray) -> list[dm_env.TimeStep]:
    env = make_batched_environment(NAME, LANES, seed=SEED, backend=backend)
    try:
        return [env.reset()] + [env.step(action) for action in actions]
    finally:
        env.close()


def _expected(actions: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """The rule applied by hand to raw gymnasium lanes: LAST carries the final observation (discount 0 when
    terminated, 1 when truncated); the next step restarts the lane, ignoring its action: FIRST, reward 0,
    discount 1."""
    envs = [RandomEnds() for _ in range(LANES)]
    observations = [env.reset(seed=SEED + lane)[0] for lane, env in enumerate(envs)]
    steps = [(np.full(LANES, FIRST), np.zeros(LANES), np.ones(LANES), np.stack(observations))]
    restart = [False] * LANES
    for action in actions:
        step_types, rewards, discounts = np.full(LANES, MID), np.zeros(LANES), np.ones(LANES)
        for lane, env in enumerate(envs):
            if restart[lane]:
                observations[lane], _ = env.reset()
                step_types[lane], restart[lane] = FIRST, False
                continue
            observations[lane], rewards[lane], terminated, truncated, _ = env.step(int(action[lane]))
            if terminated or truncated:
                step_types[lane], discounts[lane], restart[lane] = LAST, 0.0 if terminated else 1.0, True
        steps.append((step_types, rewards, discounts, np.stack(observations)))
    return steps


def test_sync_subprocess_and_gym_lanes_follow_the_rule_identically():
    actions = np.random.default_rng(0).integers(0, 2, (STEPS, LANES)).astype(np.int32)
    expected = _expected(actions)
    ends = np.array([step[0] == LAST for step in expected])
    discounts = np.array([step[2] for step in expected])
    # The random ends exercise both kinds of end, in several lanes.
    assert (ends & (discounts == 0)).sum() >= 10 and (ends & (discounts == 1)).sum() >= 10
    for backend in ("sync", "subprocess", "gym"):
        timesteps = _drive(backend, actions)
        assert len(timesteps) == len(expected)
        for t, (timestep, (step_types, rewards, discounts, observations)) in enumerate(zip(timesteps, expected)):
            np.testing.assert_array_equal(timestep.step_type, step_types, err_msg=f"{backend} step {t}")
            np.testing.assert_allclose(timestep.reward, rewards, rtol=1e-6, err_msg=f"{backend} step {t}")
            np.testing.assert_array_equal(timestep.discount, discounts, err_msg=f"{backend} step {t}")
            np.testing.assert_array_equal(timestep.observation, observations, err_msg=f"{backend} step {t}")


def _assert_follows_the_rule(timesteps: list[dm_env.TimeStep]) -> int:
    """Per lane: FIRST at reset and right after every LAST (reward 0, discount 1), nowhere else; returns the
    number of episode ends seen."""
    step_types = np.array([timestep.step_type for timestep in timesteps])
    rewards = np.array([timestep.reward for timestep in timesteps])
    discounts = np.array([timestep.discount for timestep in timesteps])
    assert (step_types[0] == FIRST).all()
    after_last = np.vstack([np.ones((1, step_types.shape[1]), bool), step_types[:-1] == LAST])
    np.testing.assert_array_equal(step_types == FIRST, after_last)
    assert (rewards[step_types == FIRST] == 0).all() and (discounts[step_types == FIRST] == 1).all()
    return int((step_types == LAST).sum())


@pytest.mark.parametrize("backend", ["ale", "sync"])
def test_atari_lanes_follow_the_rule(backend):
    pytest.importorskip("ale_py")
    env = make_batched_environment("atari:Pong", 2, seed=3, backend=backend, max_episode_frames=120,
                                   episodic_life=False)
    rng = np.random.default_rng(0)
    try:
        timesteps = [env.reset()] + [env.step(rng.integers(0, 6, 2).astype(np.int32)) for _ in range(100)]
    finally:
        env.close()
    assert _assert_follows_the_rule(timesteps) >= 4
    lasts = np.array([timestep.step_type == LAST for timestep in timesteps])
    discounts = np.array([timestep.discount for timestep in timesteps])
    assert (discounts[lasts] == 1).all()  # Cut by max_episode_frames: truncations, which bootstrap.
