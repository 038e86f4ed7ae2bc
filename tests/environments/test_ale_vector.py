"""Tests for the ale-py native vector backend (AleVectorBatchedEnvironment)."""

from __future__ import annotations

import dm_env
import numpy as np
import pytest

from environments.ale_vector import AleVectorBatchedEnvironment
from environments.atari import SEED001_CROP, AtariConfig, AtariEnvironment

FIRST, MID, LAST = int(dm_env.StepType.FIRST), int(dm_env.StepType.MID), int(dm_env.StepType.LAST)


def _play(env, steps, seed=0):
    """Random play; yields (prev_timestep, timestep, lives_before, lives_after, infos)."""
    rng = np.random.default_rng(seed)
    ts = env.reset()
    history = []
    for _ in range(steps):
        lives_before = env.lives
        prev = ts
        ts = env.step(rng.integers(0, env.action_spec().num_values, env.num_lanes))
        infos = [env.episode_info(i) if ts.step_type[i] == LAST else None for i in range(env.num_lanes)]
        history.append((prev, ts, lives_before, env.lives, infos))
    return history


@pytest.mark.parametrize("config", [AtariConfig(), AtariConfig(screen_size=64, frame_stack=2),
                                    AtariConfig(grayscale=False)])
def test_specs_match_atari_environment(config):
    single = AtariEnvironment("Breakout", config)
    env = AleVectorBatchedEnvironment("Breakout", 2, config)
    try:
        assert env.observation_spec() == single.observation_spec()
        assert env.action_spec() == single.action_spec()
        assert env.reward_spec() == single.reward_spec()
        assert env.discount_spec() == single.discount_spec()
        ts = env.reset()
        assert ts.observation.shape == (2,) + single.observation_spec().shape
        assert ts.observation.dtype == np.uint8
        ts = env.step(np.zeros(2, np.int32))
        assert ts.step_type.shape == ts.reward.shape == ts.discount.shape == (2,)
        assert ts.reward.dtype == ts.discount.dtype == np.float32
        assert ts.observation.shape == (2,) + single.observation_spec().shape
    finally:
        env.close()
        env.close()  # Idempotent.


def test_episode_semantics_with_episodic_life_and_clipping():
    env = AleVectorBatchedEnvironment("Breakout", 4, AtariConfig(), seed=3)
    history = _play(env, 700)
    env.close()
    life_losses = game_ends = 0
    last_info: dict[int, dict] = {}
    for prev, ts, lives_before, lives_after, infos in history:
        for lane in range(4):
            step_type = ts.step_type[lane]
            assert (step_type == FIRST) == (prev.step_type[lane] == LAST)  # FIRST exactly after LAST.
            assert ts.reward[lane] in (-1.0, 0.0, 1.0)
            if step_type == FIRST:
                assert ts.reward[lane] == 0.0 and ts.discount[lane] == 1.0
                if "raw_score" in last_info[lane]:
                    assert lives_after[lane] == 5  # Game over -> a fresh game.
                else:  # After a lost life the game goes on: lives are not restored.
                    assert lives_after[lane] == lives_before[lane] >= 1
            elif step_type == LAST:
                info = infos[lane]
                assert ts.discount[lane] == 0.0  # Lost life or game over (no truncation here).
                if "raw_score" in info:
                    game_ends += 1
                    assert lives_after[lane] == 0 and info["raw_score"] >= 0.0
                else:
                    life_losses += 1
                    assert lives_after[lane] == lives_before[lane] - 1 >= 1
                last_info[lane] = info
            else:
                assert ts.discount[lane] == 1.0
    assert life_losses > 0 and game_ends > 0


def test_raw_score_reported_exactly_when_a_game_ends():
    env = AleVectorBatchedEnvironment("Breakout", 4, AtariConfig(), seed=1)
    rng = np.random.default_rng(0)
    env.reset()
    clipped = np.zeros(4)
    games = 0
    for _ in range(800):
        ts = env.step(rng.integers(0, 4, 4))
        clipped += np.where(ts.step_type == FIRST, 0.0, ts.reward)
        for lane in range(4):
            info = env.episode_info(lane)
            if ts.step_type[lane] == LAST and env.lives[lane] == 0:
                games += 1
                assert set(info) == {"raw_score"}
                assert info["raw_score"] >= clipped[lane] - 1e-6  # Breakout rewards are >= 1.
                clipped[lane] = 0.0
            else:
                assert info == {}
    env.close()
    assert games > 0


def test_truncation_gives_discount_one():
    config = AtariConfig(max_episode_frames=200, episodic_life=False, noop_max=0)
    env = AleVectorBatchedEnvironment("Breakout", 2, config)
    ts = env.reset()
    lasts = 0
    for t in range(120):
        ts = env.step(np.zeros(2, np.int32))  # NOOP: no life is lost within 200 frames after FIRE.
        if (ts.step_type == LAST).any():
            assert np.all(ts.discount[ts.step_type == LAST] == 1.0)
            for lane in np.flatnonzero(ts.step_type == LAST):
                assert "raw_score" in env.episode_info(int(lane))
            lasts += int((ts.step_type == LAST).sum())
    env.close()
    assert lasts >= 2


def test_same_seed_same_observations_different_seed_differs():
    def run(seed):
        env = AleVectorBatchedEnvironment("Breakout", 2, AtariConfig(sticky_action_probability=0.25), seed=seed)
        rng = np.random.default_rng(0)
        obs = [env.reset().observation]
        for _ in range(150):
            obs.append(env.step(rng.integers(0, 4, 2)).observation)
        env.close()
        return np.stack(obs)

    a, b = run(7), run(7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, run(8))


def test_unsupported_options_raise():
    with pytest.raises(ValueError, match=r"crop.*'sync' or 'subprocess'"):
        AleVectorBatchedEnvironment("Breakout", 2, AtariConfig(crop=SEED001_CROP))
    with pytest.raises(ValueError, match="num_lanes"):
        AleVectorBatchedEnvironment("Breakout", 0)


def test_bad_actions_raise():
    env = AleVectorBatchedEnvironment("Breakout", 2)
    env.reset()
    with pytest.raises(ValueError, match="batch of 2"):
        env.step(np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.array([0, 4]))
    env.close()


def test_environment_loop_with_random_actor(recording_logger, random_actor):
    from components.environment_loop import EnvironmentLoop

    env = AleVectorBatchedEnvironment("Breakout", 4, AtariConfig(), seed=0)
    loop = EnvironmentLoop(env, random_actor(num_actions=4), logger=recording_logger)
    loop.run(num_episodes=24)
    env.close()
    rows = recording_logger.rows
    assert len(rows) >= 24
    scored = [row for row in rows if row.get("raw_score") is not None]
    assert 0 < len(scored) < len(rows)  # Life losses end episodes; only game ends carry a raw score.


def _scripted_action(lane: int, t: int) -> int:
    """A fixed pseudo-random action for a lane's t-th step, whatever the order lanes are stepped in."""
    return (lane * 7 + t * 13 + (t * t) % 5) % 4


def _per_lane_sync(config, lanes, steps, seed):
    env = AleVectorBatchedEnvironment("Breakout", lanes, config, seed=seed)
    ts = env.reset()
    records = [[(int(ts.step_type[i]), 0.0, 1.0, ts.observation[i])] for i in range(lanes)]
    for t in range(steps):
        ts = env.step(np.array([_scripted_action(i, t) for i in range(lanes)]))
        for i in range(lanes):
            records[i].append((int(ts.step_type[i]), float(ts.reward[i]), float(ts.discount[i]), ts.observation[i]))
    env.close()
    return records


def _per_lane_async(config, lanes, batch_size, steps, seed):
    env = AleVectorBatchedEnvironment("Breakout", lanes, config, seed=seed, batch_size=batch_size)
    records = [[] for _ in range(lanes)]
    ids, ts = env.async_reset()
    seen_batches = set()
    while True:
        assert len(ids) == batch_size and len(set(ids.tolist())) == batch_size
        seen_batches.add(tuple(sorted(ids.tolist())))
        for row, lane in enumerate(ids):
            records[lane].append((int(ts.step_type[row]), float(ts.reward[row]), float(ts.discount[row]),
                                  ts.observation[row]))
        if min(len(r) for r in records) > steps:
            break
        env.send(np.array([_scripted_action(int(lane), len(records[lane]) - 1) for lane in ids]))
        ids, ts = env.recv()
    env.close()
    return records, seen_batches


def test_async_batches_give_each_lane_the_same_sequence_as_sync():
    config = AtariConfig()
    steps = 300
    sync = _per_lane_sync(config, 4, steps, seed=5)
    asynchronous, _ = _per_lane_async(config, 4, 2, steps, seed=5)
    for lane in range(4):
        for t in range(steps + 1):
            s, a = sync[lane][t], asynchronous[lane][t]
            assert s[:3] == a[:3], (lane, t)
            np.testing.assert_array_equal(s[3], a[3])
    step_types = [r[0] for lane in sync for r in lane]
    assert step_types.count(LAST) > 0  # The comparison covered episode ends and restarts.


def test_async_mode_misuse_is_reported():
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[0, num_lanes=2\]"):
        AleVectorBatchedEnvironment("Breakout", 2, batch_size=3)
    env = AleVectorBatchedEnvironment("Breakout", 4, batch_size=2)
    try:
        with pytest.raises(RuntimeError, match="asynchronous batches of 2 of its 4 lanes"):
            env.reset()
        with pytest.raises(RuntimeError, match="async_reset"):
            env.send(np.zeros(2, np.int32))
        with pytest.raises(RuntimeError, match="send"):
            env.recv()
        ids, _ = env.async_reset()
        with pytest.raises(ValueError, match="batch of 2"):
            env.send(np.zeros(4, np.int32))
        env.send(np.zeros(2, np.int32))
        with pytest.raises(RuntimeError, match="async_reset"):
            env.send(np.zeros(2, np.int32))
        ids, _ = env.recv()
        with pytest.raises(RuntimeError, match="send"):
            env.recv()
    finally:
        env.close()
