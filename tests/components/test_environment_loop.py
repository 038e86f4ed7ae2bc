"""Tests for `components.environment_loop.EnvironmentLoop`.

The environments are tiny deterministic fakes with a fixed episode length per
lane, so every count, return and logged row can be computed by hand:

  lane 0: episodes of 3 steps, reward t at step t  -> return 1+2+3 = 6
  lane 1: episodes of 5 steps, reward 10 t          -> return 10+...+50 = 150

In a `SyncBatchedEnvironment`, the step after a lane's LAST is that lane's
FIRST (a restart), so lane 0 ends on calls 3, 7, 11, ... and lane 1 on calls
5, 11, 17, ... Every call counts one step per lane, except a lane's restart
(lane 0 at calls 4, 8, 12, ..., lane 1 at 6, 12, ...), which is no environment step.
"""

from __future__ import annotations

import types
from typing import Any

import dm_env
import numpy as np
import pytest
from dm_env import specs

from components import environment_loop as environment_loop_module
from components.core import Actor
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.loggers import Logger
from environments.batched import SyncBatchedEnvironment

LANE0_RETURN = 6.0
LANE1_RETURN = 150.0


class FixedLengthEnv(dm_env.Environment):
    """Episodes of exactly `length` steps; step t (1-based) pays `reward_scale * t`.

    Observations are float32 `[lane_id, t]`. The last step terminates (discount
    0). `on_step` (if given) is called on every step, e.g. to advance a clock.
    """

    def __init__(self, length: int, reward_scale: float = 1.0, lane_id: int = 0, on_step=None) -> None:
        self.length = length
        self.reward_scale = reward_scale
        self.lane_id = lane_id
        self.on_step = on_step
        self.t = 0
        self.num_resets = 0
        self.actions: list[Any] = []

    def _obs(self) -> np.ndarray:
        return np.array([self.lane_id, self.t], np.float32)

    def reset(self) -> dm_env.TimeStep:
        self.t = 0
        self.num_resets += 1
        return dm_env.restart(self._obs())

    def step(self, action) -> dm_env.TimeStep:
        if self.on_step is not None:
            self.on_step()
        self.actions.append(action)
        self.t += 1
        reward = np.float32(self.reward_scale * self.t)
        if self.t >= self.length:
            return dm_env.termination(reward, self._obs())
        return dm_env.transition(reward, self._obs(), np.float32(1.0))

    def observation_spec(self):
        return specs.Array((2,), np.float32, "observation")

    def action_spec(self):
        return specs.DiscreteArray(2, dtype=np.int32, name="action")

    def reward_spec(self):
        return specs.Array((), np.float32, "reward")

    def discount_spec(self):
        return specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")


class RecordingActor(Actor):
    """Returns zero actions and records every call (and what it was called with)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.observations: list[np.ndarray] = []
        self.first_timesteps: list[dm_env.TimeStep] = []
        self.observed: list[tuple[Any, dm_env.TimeStep]] = []
        self.selected: list[np.ndarray] = []

    def select_action(self, observation):
        self.calls.append("select_action")
        self.observations.append(observation)
        action = np.zeros(len(observation), dtype=np.int32)
        self.selected.append(action)
        return action

    def observe_first(self, timestep):
        self.calls.append("observe_first")
        self.first_timesteps.append(timestep)

    def observe(self, action, next_timestep):
        self.calls.append("observe")
        self.observed.append((action, next_timestep))

    def update(self, wait: bool = False):
        self.calls.append("update")


class ListLogger(Logger):
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, data):
        self.rows.append(dict(data))


def two_lane_env(on_step=None) -> SyncBatchedEnvironment:
    return SyncBatchedEnvironment([
        FixedLengthEnv(3, 1.0, lane_id=0, on_step=on_step),
        FixedLengthEnv(5, 10.0, lane_id=1),
    ])


def make_loop(**kwargs):
    env = kwargs.pop("environment", None) or two_lane_env()
    actor = RecordingActor()
    root = Counter()
    logger = ListLogger()
    loop = EnvironmentLoop(env, actor, Counter(root, "actor"), logger, **kwargs)
    return loop, env, actor, root, logger


def test_step_budget_counts_lane_steps_and_episodes_per_lane():
    loop, env, _, root, logger = make_loop()
    returns = loop.run(num_steps=19)  # 11 calls of 2 lanes, less the restarts at calls 4, 6 and 8.
    # Episode ends: lane 0 at calls 3, 7, 11; lane 1 at calls 5, 11 (lane order within a call).
    assert returns == [LANE0_RETURN, LANE1_RETURN, LANE0_RETURN, LANE0_RETURN, LANE1_RETURN]
    assert root.get_counts() == {"actor_steps": 19, "actor_episodes": 5}
    assert [row["lane"] for row in logger.rows] == [0, 1, 0, 0, 1]
    assert [row["episode_length"] for row in logger.rows] == [3, 5, 3, 3, 5]
    # Each lane's environment was stepped on every call except its restarts.
    assert len(env.lanes[0].actions) == 11 - 2  # Restarts at calls 4 and 8.
    assert len(env.lanes[1].actions) == 11 - 1  # Restart at call 6.


def test_logged_rows_hold_episode_stats_and_counter_totals():
    loop, _, _, _, logger = make_loop()
    loop.run(num_steps=19)
    assert len(logger.rows) == 5
    for row in logger.rows:
        assert {"episode_return", "episode_length", "steps_per_second", "actor_steps", "actor_episodes"} <= set(row)
        assert row["steps_per_second"] > 0
        assert row["episode_return"] == (LANE0_RETURN if row["lane"] == 0 else LANE1_RETURN)
    # Counter totals as they stood after the step that ended the episode.
    assert [row["actor_steps"] for row in logger.rows] == [6, 9, 12, 19, 19]
    assert [row["actor_episodes"] for row in logger.rows] == [1, 2, 3, 5, 5]


def test_episode_budget_stops_after_that_many_episodes():
    loop, _, actor, root, _ = make_loop()
    assert loop.run(num_episodes=2) == [LANE0_RETURN, LANE1_RETURN]
    assert root.get("actor_steps") == 9  # Calls 1..5 (lane 1 ends on call 5), less lane 0's restart at 4.
    assert actor.calls.count("select_action") == 5


def test_episode_budget_returns_exactly_num_episodes_when_several_end_together():
    loop, _, _, root, logger = make_loop()
    # Episodes end on calls 3, 5, 7, then two at once on call 11.
    returns = loop.run(num_episodes=4)
    assert returns == [LANE0_RETURN, LANE1_RETURN, LANE0_RETURN, LANE0_RETURN]
    # Both episodes of call 11 did finish: they are counted and logged.
    assert root.get("actor_episodes") == 5
    assert len(logger.rows) == 5


def test_whichever_budget_comes_first_ends_the_run():
    loop, _, _, root, _ = make_loop()
    assert loop.run(num_steps=4, num_episodes=10) == []
    assert root.get("actor_steps") == 4
    assert loop.run(num_steps=1000, num_episodes=1) == [LANE0_RETURN]  # Lane 0 ends on call 3.
    assert root.get("actor_steps") == 6


def test_step_budget_is_rounded_up_to_whole_batched_steps():
    loop, _, _, root, _ = make_loop()
    loop.run(num_steps=5)
    assert root.get("actor_steps") == 6  # 3 calls of 2 lanes.


def test_run_needs_a_budget():
    loop, *_ = make_loop()
    with pytest.raises(ValueError, match="num_steps or num_episodes"):
        loop.run()


def test_episodes_continue_across_run_calls():
    loop, env, actor, _, logger = make_loop()
    assert loop.run(num_steps=4) == []  # Calls 1, 2: lane 0 is 2 steps into its episode.
    assert loop.run(num_steps=2) == [LANE0_RETURN]  # Call 3 ends it: its return spans both runs.
    assert logger.rows[-1]["episode_length"] == 3
    assert [e.num_resets for e in env.lanes] == [1, 1]  # No reset between the runs.
    assert actor.calls.count("observe_first") == 1


def test_reset_restarts_every_lane():
    loop, env, actor, root, logger = make_loop()
    loop.run(num_steps=4)  # Lane 0 at t=2, lane 1 at t=2.
    loop.reset()
    # Fresh episodes: lane 0 needs 3 more calls (not 1) to end, with a full-length return.
    assert loop.run(num_episodes=1) == [LANE0_RETURN]
    assert root.get("actor_steps") == 4 + 6
    assert logger.rows[-1]["episode_length"] == 3
    assert [e.num_resets for e in env.lanes] == [2, 2]
    assert actor.calls.count("observe_first") == 2
    # The second observe_first saw fresh first observations (t = 0 in both lanes).
    second_first = actor.first_timesteps[1]
    assert list(second_first.step_type) == [dm_env.StepType.FIRST] * 2
    np.testing.assert_array_equal(second_first.observation[:, 1], [0, 0])


def test_plain_environment_runs_as_a_batch_of_one():
    env = FixedLengthEnv(3, 1.0)
    actor = RecordingActor()
    root = Counter()
    loop = EnvironmentLoop(env, actor, Counter(root, "actor"))
    assert loop.environment.num_lanes == 1
    assert loop.run(num_episodes=2) == [LANE0_RETURN, LANE0_RETURN]
    # 3 steps, a restart (not an environment step), 3 steps.
    assert root.get_counts() == {"actor_steps": 6, "actor_episodes": 2}
    for observation in actor.observations:
        assert observation.shape == (1, 2)
    for action, timestep in actor.observed:
        assert action.shape == (1,)
        assert timestep.step_type.shape == (1,)
        assert timestep.reward.shape == (1,)
    assert env.actions[0] == 0  # The plain environment got lane 0's action, unbatched.
    assert np.ndim(env.actions[0]) == 0


def test_actor_sees_lane_axis_and_calls_come_in_order():
    loop, _, actor, _, _ = make_loop()
    loop.run(num_steps=7)  # 4 calls (lane 0 restarts on the fourth).
    assert actor.calls == ["observe_first"] + ["select_action", "observe", "update"] * 4
    for observation in actor.observations:
        assert observation.shape == (2, 2)
        np.testing.assert_array_equal(observation[:, 0], [0, 1])  # Row i is lane i.
    assert actor.first_timesteps[0].observation.shape == (2, 2)
    for (action, timestep), selected in zip(actor.observed, actor.selected):
        assert action is selected  # observe gets the very actions that were selected.
        assert timestep.step_type.shape == (2,)
    # observe gets each call's new timestep: call 3 is lane 0's LAST, call 4 its FIRST.
    assert list(actor.observed[2][1].step_type) == [dm_env.StepType.LAST, dm_env.StepType.MID]
    assert list(actor.observed[3][1].step_type) == [dm_env.StepType.FIRST, dm_env.StepType.MID]
    # The observation the actor acts on is the one the previous step returned.
    np.testing.assert_array_equal(actor.observations[3], actor.observed[2][1].observation)


def test_should_update_false_never_calls_update():
    loop, _, actor, _, _ = make_loop(should_update=False)
    loop.run(num_steps=6)
    assert "update" not in actor.calls
    assert actor.calls.count("observe") == 3


def test_default_counter_uses_the_label_as_prefix():
    logger = ListLogger()
    loop = EnvironmentLoop(FixedLengthEnv(3), RecordingActor(), logger=logger, label="eval")
    loop.run(num_episodes=1)
    assert logger.rows[0]["eval_steps"] == 3
    assert logger.rows[0]["eval_episodes"] == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_steps_per_second_is_lane_steps_over_elapsed_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(environment_loop_module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    env = two_lane_env(on_step=lambda: clock.advance(0.5))  # Each batched step takes 0.5 s.
    loop, _, _, _, logger = make_loop(environment=env)
    loop.run(num_steps=6)  # Lane 0 ends on call 3: 6 lane-steps in 1.5 s.
    assert logger.rows[0]["steps_per_second"] == pytest.approx(4.0)


def test_steps_per_second_ignores_time_between_runs(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(environment_loop_module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    env = two_lane_env(on_step=lambda: clock.advance(0.5))
    loop, _, _, _, logger = make_loop(environment=env)
    loop.run(num_steps=2)  # Call 1 (0.5 s).
    clock.advance(100.0)  # E.g. an evaluation runs between training chunks.
    loop.run(num_steps=4)  # Calls 2, 3: lane 0 ends after 6 lane-steps in 1.5 s of running.
    assert logger.rows[0]["steps_per_second"] == pytest.approx(4.0)


class _ScoredEnvironment(dm_env.Environment):
    """Episodes of 2 steps; every second episode reports a 'game' score, like Atari's life loss vs game over."""

    def __init__(self) -> None:
        self._t, self._episodes = 0, 0

    def reset(self):
        self._t = 0
        return dm_env.restart(np.zeros(1, np.float32))

    def step(self, action):
        self._t += 1
        if self._t == 2:
            self._episodes += 1
            return dm_env.termination(np.float32(1.0), np.zeros(1, np.float32))
        return dm_env.transition(np.float32(1.0), np.zeros(1, np.float32), np.float32(1.0))

    def episode_info(self):
        return {"raw_score": 100.0 * self._episodes} if self._episodes % 2 == 0 else {}

    def observation_spec(self):
        return specs.Array((1,), np.float32)

    def action_spec(self):
        return specs.DiscreteArray(2)


def test_episode_rows_carry_the_environments_episode_info(recording_logger, random_actor):
    loop = EnvironmentLoop(SyncBatchedEnvironment([_ScoredEnvironment()]), random_actor(num_actions=2),
                           logger=recording_logger)
    loop.run(num_episodes=4)
    rows = recording_logger.rows
    assert [row.get("raw_score") for row in rows] == [None, 200.0, None, 400.0]
    assert all(row["episode_return"] == 2.0 for row in rows)


def test_an_episode_of_n_steps_costs_n_of_the_budget():
    """A 1,000-step dm_control episode used to cost 1,001: the restart step after a LAST was counted."""
    root = Counter()
    loop = EnvironmentLoop(FixedLengthEnv(10), RecordingActor(), Counter(root, "actor"))
    assert loop.run(num_steps=30) == [55.0, 55.0, 55.0]
    assert root.get_counts() == {"actor_steps": 30, "actor_episodes": 3}
