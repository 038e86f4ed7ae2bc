"""Tests for `TrajectoryAdder` and `EpisodeAdder`: fixed windows and whole episodes per lane.

A fake lockstep stream plays N lanes whose episodes have given lengths, with
agentpipe's lane semantics (after a lane's LAST comes its FIRST, reward 0,
discount 1, action ignored). Every observation carries a unique id
(lane * 100_000 + step), the action at step k is 7 * id and extras are
derived from the id, so every stored value can be traced to its step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import dm_env
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.actors import FeedForwardActor
from components.adders import EpisodeAdder, TrajectoryAdder
from components.environment_loop import EnvironmentLoop
from components.queue_replay import OnPolicyQueue
from components.types import PolicyOutput
from environments.batched import SyncBatchedEnvironment
from tests.support import RecordingReplay

FIRST, MID, LAST = dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST



class Step(NamedTuple):
    """One lane's observation at one step, and what led there."""

    id: int
    step_type: int
    reward: float  # r of the step that produced this observation (0 at FIRST).
    discount: float


def lane_steps(lane: int, lengths: list[int], terminations: list[bool], num_steps: int) -> list[Step]:
    """A lane's steps 0..num_steps, cycling through episode `lengths`; LAST discounts 0 on termination."""
    steps: list[Step] = []
    episode, position = 0, 0  # position: steps taken in the current episode
    for k in range(num_steps + 1):
        length = lengths[episode % len(lengths)]
        ident = lane * 100_000 + k
        if position == 0:
            steps.append(Step(ident, int(FIRST), 0.0, 1.0))
        else:
            last = position == length
            discount = 0.0 if last and terminations[episode % len(terminations)] else 1.0
            steps.append(Step(ident, int(LAST if last else MID), float(k % 5) - 1.5, discount))
        if position == length:
            episode, position = episode + 1, 0
        else:
            position += 1
    return steps


def observation(ids: np.ndarray) -> dict[str, np.ndarray]:
    return {"id": ids.astype(np.int64), "pixels": np.stack([ids, -ids], axis=-1).astype(np.float32)}


def extras_of(ids: np.ndarray, with_extras: bool) -> Any:
    if not with_extras:
        return ()
    return {"log_prob": (ids * 0.5).astype(np.float32), "value": np.stack([ids, ids + 1, ids + 2], -1)}


def play(adder, lanes: list[list[Step]], with_extras: bool = True) -> None:
    """Feeds the lanes' steps to `adder` as an EnvironmentLoop would."""
    num_steps = len(lanes[0]) - 1

    def timestep(k: int) -> dm_env.TimeStep:
        steps = [lane[k] for lane in lanes]
        ids = np.array([s.id for s in steps])
        return dm_env.TimeStep(np.array([s.step_type for s in steps], np.int8),
                               np.array([s.reward for s in steps], np.float32),
                               np.array([s.discount for s in steps], np.float32), observation(ids))

    adder.add_first(timestep(0))
    for k in range(num_steps):
        ids = np.array([lane[k].id for lane in lanes])
        adder.add(7 * ids, timestep(k + 1), extras_of(ids, with_extras))


def lanes_strategy():
    return st.integers(1, 3).flatmap(lambda n: st.tuples(
        st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=4), min_size=n, max_size=n),
        st.lists(st.lists(st.booleans(), min_size=1, max_size=3), min_size=n, max_size=n),
        st.integers(0, 30)))


def make_lanes(lengths, terminations, num_steps) -> list[list[Step]]:
    return [lane_steps(i, lengths[i], terminations[i], num_steps) for i in range(len(lengths))]


# TrajectoryAdder.


@settings(max_examples=60, deadline=None)
@given(lanes_strategy(), st.integers(1, 6), st.booleans())
def test_trajectories_hold_every_step_once_with_overlapping_bootstraps(spec, length, with_extras):
    lanes = make_lanes(*spec)
    num_lanes, num_steps = len(lanes), len(lanes[0]) - 1
    replay = RecordingReplay()
    play(TrajectoryAdder(replay, length), lanes, with_extras)

    assert len(replay.batches) == num_steps // length  # One insert of all lanes per window.
    for j, batch in enumerate(replay.batches):
        assert batch.observation["id"].shape == (num_lanes, length + 1)
        assert batch.observation["pixels"].shape == (num_lanes, length + 1, 2)
        assert batch.action.shape == batch.reward.shape == batch.discount.shape == (num_lanes, length)
        assert batch.step_type.shape == (num_lanes, length + 1) and batch.step_type.dtype == np.int8
        if with_extras:
            assert batch.extras["value"].shape == (num_lanes, length, 3)
        else:
            assert batch.extras == ()
        for i, lane in enumerate(lanes):
            window = lane[j * length: (j + 1) * length + 1]
            ids = np.array([s.id for s in window])
            np.testing.assert_array_equal(batch.observation["id"][i], ids)
            np.testing.assert_array_equal(batch.observation["pixels"][i], np.stack([ids, -ids], -1))
            np.testing.assert_array_equal(batch.step_type[i], [s.step_type for s in window])
            np.testing.assert_array_equal(batch.action[i], 7 * ids[:-1])
            np.testing.assert_array_equal(batch.reward[i], np.float32([s.reward for s in window[1:]]))
            np.testing.assert_array_equal(batch.discount[i], np.float32([s.discount for s in window[1:]]))
            if with_extras:
                np.testing.assert_array_equal(batch.extras["log_prob"][i], np.float32(ids[:-1] * 0.5))
                np.testing.assert_array_equal(batch.extras["value"][i][:, 0], ids[:-1])
            if j + 1 < len(replay.batches):  # The bootstrap observation starts the lane's next item.
                assert replay.batches[j + 1].observation["id"][i, 0] == batch.observation["id"][i, -1]

    # Every (o_t, a_t) with t < T appears exactly once, and those are all the steps of complete windows.
    pairs = [(int(o), int(a)) for b in replay.batches
             for o, a in zip(b.observation["id"][:, :-1].ravel(), b.action.ravel())]
    written = (num_steps // length) * length
    expected = [(s.id, 7 * s.id) for lane in lanes for s in lane[:written]]
    assert len(pairs) == len(set(pairs)) and set(pairs) == set(expected)


def test_episode_boundaries_stay_inside_a_window():
    # One lane: episode of 2 steps (terminated), then the restart, inside one window of 4.
    lanes = [lane_steps(0, [2, 5], [True], 4)]
    replay = RecordingReplay()
    play(TrajectoryAdder(replay, 4), lanes)
    (batch,) = replay.batches
    np.testing.assert_array_equal(batch.step_type[0], [FIRST, MID, LAST, FIRST, MID])
    np.testing.assert_array_equal(batch.discount[0], [1, 0, 1, 1])
    assert batch.reward[0, 2] == 0.0  # The restart step pays nothing.


def test_first_rewards_are_zeroed_whatever_the_source_reports():
    replay = RecordingReplay()
    adder = TrajectoryAdder(replay, 2)
    obs = lambda i: np.array([i])  # noqa: E731
    adder.add_first(dm_env.TimeStep(np.int8([FIRST]), np.float32([0]), np.float32([1]), obs(0)))
    adder.add(np.array([0]), dm_env.TimeStep(np.int8([LAST]), np.float32([3]), np.float32([0]), obs(1)))
    adder.add(np.array([0]), dm_env.TimeStep(np.int8([FIRST]), np.float32([9]), np.float32([1]), obs(2)))
    np.testing.assert_array_equal(replay.batches[0].reward, [[3.0, 0.0]])
    assert replay.batches[0].reward.dtype == np.float32


def test_reset_drops_the_partial_window_and_add_first_restarts():
    replay = RecordingReplay()
    adder = TrajectoryAdder(replay, 3)
    lanes = make_lanes([[10], [10]], [[True], [True]], 2)
    play(adder, lanes)
    assert replay.batches == []
    adder.reset()
    with pytest.raises(RuntimeError, match="before add_first"):
        adder.add(np.zeros(2), dm_env.TimeStep(np.int8([MID, MID]), np.zeros(2), np.ones(2), observation(np.ones(2))))
    play(adder, make_lanes([[10], [10]], [[True], [True]], 3))
    assert len(replay.batches) == 1
    np.testing.assert_array_equal(replay.batches[0].observation["id"][1], [100_000, 100_001, 100_002, 100_003])


def bare_timestep(step_types, ids=None) -> dm_env.TimeStep:
    n = len(step_types)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    return dm_env.TimeStep(np.int8(step_types), np.zeros(n, np.float32), np.ones(n, np.float32), ids)


@pytest.mark.parametrize("make", [lambda r: TrajectoryAdder(r, 2), lambda r: EpisodeAdder(r)])
def test_clear_errors(make):
    adder = make(RecordingReplay())
    with pytest.raises(RuntimeError, match="before add_first"):
        adder.add(np.zeros(2), bare_timestep([MID, MID]))
    with pytest.raises(ValueError, match="every lane to be FIRST"):
        adder.add_first(bare_timestep([FIRST, MID]))
    adder.add_first(bare_timestep([FIRST, FIRST]))
    with pytest.raises(ValueError, match="started with 2 lanes .* shape \\(3,\\)"):
        adder.add(np.zeros(3), bare_timestep([MID, MID, MID]))
    with pytest.raises(ValueError, match="action needs a leading lane axis of 2, got .* shape \\(3,\\)"):
        adder.add(np.zeros(3), bare_timestep([MID, MID]))
    with pytest.raises(ValueError, match="extras needs a leading lane axis of 2"):
        adder.add(np.zeros(2), bare_timestep([MID, MID]), {"log_prob": np.zeros(1)})
    with pytest.raises(ValueError, match="lane 1 went from step type 0 to 0"):
        adder.add(np.zeros(2), bare_timestep([MID, FIRST]))


def test_invalid_lengths():
    with pytest.raises(ValueError, match="positive integer, got 0"):
        TrajectoryAdder(RecordingReplay(), 0)
    with pytest.raises(ValueError, match="max_length must be a positive integer or None, got 0"):
        EpisodeAdder(RecordingReplay(), max_length=0)


# EpisodeAdder.


def finished_episodes(lanes: list[list[Step]]) -> list[tuple[int, int, list[Step]]]:
    """(end step, lane, steps FIRST..LAST) of every finished episode, in the order they finish."""
    episodes = []
    for i, lane in enumerate(lanes):
        start = 0
        for k, step in enumerate(lane):
            if step.step_type == FIRST:
                start = k
            elif step.step_type == LAST:
                episodes.append((k, i, lane[start:k + 1]))
    return sorted(episodes, key=lambda e: (e[0], e[1]))


@settings(max_examples=60, deadline=None)
@given(lanes_strategy(), st.booleans())
def test_episode_adder_reconstructs_every_finished_episode(spec, with_extras):
    lanes = make_lanes(*spec)
    replay = RecordingReplay()
    play(EpisodeAdder(replay), lanes, with_extras)
    expected = finished_episodes(lanes)
    assert len(replay.batches) == len(expected)
    for item, (_, _, steps) in zip(replay.batches, expected):
        L = len(steps) - 1
        ids = np.array([s.id for s in steps])
        assert item.step_type.shape == (1, L + 1) and item.action.shape == (1, L)
        np.testing.assert_array_equal(item.observation["id"][0], ids)
        np.testing.assert_array_equal(item.observation["pixels"][0], np.stack([ids, -ids], -1))
        np.testing.assert_array_equal(item.step_type[0], [FIRST] + [MID] * (L - 1) + [LAST])
        np.testing.assert_array_equal(item.step_type[0], [s.step_type for s in steps])
        np.testing.assert_array_equal(item.action[0], 7 * ids[:-1])
        np.testing.assert_array_equal(item.reward[0], np.float32([s.reward for s in steps[1:]]))
        np.testing.assert_array_equal(item.discount[0], np.float32([s.discount for s in steps[1:]]))
        if with_extras:
            np.testing.assert_array_equal(item.extras["log_prob"][0], np.float32(ids[:-1] * 0.5))
            assert item.extras["value"].shape == (1, L, 3)
        else:
            assert item.extras == ()


def test_episode_adder_max_length():
    adder = EpisodeAdder(RecordingReplay(), max_length=3)
    play(adder, make_lanes([[3], [2]], [[True], [False]], 7))  # Episodes of exactly 3 steps are fine.
    with pytest.raises(ValueError, match="lane 1's episode is 4 steps long, more than max_length=3"):
        play(adder, make_lanes([[3], [9]], [[True], [True]], 7))


def test_episode_adder_keeps_memory_to_the_oldest_running_episode():
    adder = EpisodeAdder(RecordingReplay())
    play(adder, make_lanes([[2], [3]], [[True], [True]], 50))
    assert len(adder._observations) <= 5  # Never all 51 steps.


def test_episodes_of_different_lengths_through_the_queue():
    queue = OnPolicyQueue(capacity=100)
    play(EpisodeAdder(queue), make_lanes([[2, 4]], [[True]], 9))  # Episodes of 2 and 4 steps finish.
    assert queue.size() == 2
    first, second = queue.sample(2)  # A list: the shapes differ.
    assert first.observation["id"].shape == (3,) and second.observation["id"].shape == (5,)
    np.testing.assert_array_equal(second.step_type, [FIRST, MID, MID, MID, LAST])


# Through the real loop and actor.


class CountingEnv(dm_env.Environment):
    """Observation = steps taken so far; episodes last `length` steps; reward 1 per step."""

    def __init__(self, length: int) -> None:
        self._length, self._t = length, 0

    def reset(self):
        self._t = 0
        return dm_env.restart(np.float32([0.0]))

    def step(self, action):
        self._t += 1
        obs = np.float32([self._t])
        return dm_env.termination(1.0, obs) if self._t == self._length else dm_env.transition(1.0, obs)

    def observation_spec(self):
        return dm_env.specs.Array((1,), np.float32)

    def action_spec(self):
        return dm_env.specs.DiscreteArray(2)


def test_environment_loop_feeds_a_queue_through_a_trajectory_adder():
    env = SyncBatchedEnvironment([CountingEnv(3), CountingEnv(4)])
    queue = OnPolicyQueue(capacity=8)
    policy = lambda obs: PolicyOutput(np.zeros(len(obs), np.int64), {"value": obs[:, 0] * 10})  # noqa: E731
    loop = EnvironmentLoop(env, FeedForwardActor(policy, TrajectoryAdder(queue, 5)), should_update=False)
    loop.run(num_steps=2 * 10)
    assert queue.size() == 4 and queue.rate_limiter.can_sample(4)
    batch = queue.sample(4)
    assert batch.observation.shape == (4, 6, 1) and batch.step_type.shape == (4, 6)
    # Lane 0 (episodes of 3): FIRST 1 2 LAST FIRST 1 | 1 2 LAST FIRST 1 2.
    np.testing.assert_array_equal(batch.observation[0, :, 0], [0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(batch.step_type[0], [FIRST, MID, MID, LAST, FIRST, MID])
    np.testing.assert_array_equal(batch.reward[0], [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(batch.discount[0], [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(batch.extras["value"][0], [0, 10, 20, 30, 0])
    np.testing.assert_array_equal(batch.observation[2, :, 0], [1, 2, 3, 0, 1, 2])
    np.testing.assert_array_equal(batch.observation[3, :, 0], [0, 1, 2, 3, 4, 0])  # Lane 1: episodes of 4.
