"""Every backend's lanes behave as dm_env sequences with the same auto-reset rules.

* Conformance: `dm_env.test_utils` on a single-lane view of each backend
  (sync, subprocess, ale, gym) and on the single Atari environment's registry build.
* Auto-reset: on a scripted cheap environment with random episode lengths,
  sync, subprocess and gym lanes (the gym backend's through
  `DmEnvToGymnasium`) must match a reference model exactly: the step
  after a lane's LAST is its FIRST (reward 0, discount 1, the action ignored,
  the reset observation), other lanes are untouched. The ale backend cannot host
  a fake environment; its mapping is checked on real games in test_ale_vector.py.
"""

from __future__ import annotations

import functools
import multiprocessing
import pathlib
import sys

import dm_env
import numpy as np
from absl.testing import absltest
from dm_env import specs, test_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import registry
from environments.batched import BatchedEnvironment
from environments.gym_adapter import DmEnvToGymnasium
from environments.gym_batched import GymnasiumBatchedEnvironment

_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # Subprocess workers unpickle this module's factories by name.
    sys.path.append(_ROOT)

FIRST, MID, LAST = dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST


class LaneView(dm_env.Environment):
    """Lane `lane` of a batched environment as a plain dm_env.Environment (other lanes play action 0)."""

    def __init__(self, batched: BatchedEnvironment, lane: int = 0) -> None:
        self._batched = batched
        self._lane = lane

    def _pick(self, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
        i = self._lane
        step_type = dm_env.StepType(int(timestep.step_type[i]))
        if step_type.first():  # Batched arrays hold reward 0 and discount 1 where dm_env says None.
            assert timestep.reward[i] == 0.0 and timestep.discount[i] == 1.0
            return dm_env.TimeStep(step_type, None, None, timestep.observation[i])
        return dm_env.TimeStep(step_type, timestep.reward[i], timestep.discount[i], timestep.observation[i])

    def reset(self) -> dm_env.TimeStep:
        return self._pick(self._batched.reset())

    def step(self, action) -> dm_env.TimeStep:
        actions = np.zeros(self._batched.num_lanes, self._batched.action_spec().dtype)
        actions[self._lane] = action
        return self._pick(self._batched.step(actions))

    def observation_spec(self):
        return self._batched.observation_spec()

    def action_spec(self):
        return self._batched.action_spec()

    def reward_spec(self):
        return self._batched.reward_spec()

    def discount_spec(self):
        return self._batched.discount_spec()

    def close(self) -> None:
        self._batched.close()


# ----------------------------------------------------------------------------
# dm_env conformance of each backend's lane view.
# ----------------------------------------------------------------------------

_SHORT_BREAKOUT = {"max_episode_frames": 400}


class _LaneConformance(test_utils.EnvironmentTestMixin):
    env_name = "gridworld:simple"
    backend = "sync"
    options: dict = {}

    def make_object_under_test(self):
        return LaneView(registry.make_batched_environment(self.env_name, 2, seed=3, backend=self.backend,
                                                          **self.options), lane=1)

    def tearDown(self):
        self.environment.close()
        super().tearDown()

    def test_lane_reaches_last_and_restarts(self):
        self.environment.reset()
        rng = np.random.default_rng(0)
        num_actions = self.environment.action_spec().num_values
        step_types = [self.environment.step(rng.integers(num_actions)).step_type for _ in range(400)]
        lasts = [t for t, s in enumerate(step_types) if s == LAST]
        self.assertTrue(lasts, "no episode ended within 400 steps")
        for t in lasts:
            if t + 1 < len(step_types):
                self.assertEqual(step_types[t + 1], FIRST)


class SyncGridworldLaneTest(_LaneConformance, absltest.TestCase):
    pass


class SyncAtariLaneTest(_LaneConformance, absltest.TestCase):
    env_name, backend, options = "atari:Breakout", "sync", _SHORT_BREAKOUT


class SubprocessAtariLaneTest(_LaneConformance, absltest.TestCase):
    env_name, backend, options = "atari:Breakout", "subprocess", _SHORT_BREAKOUT

    def tearDown(self):
        super().tearDown()
        self.assertEqual(multiprocessing.active_children(), [])


class AleLaneTest(_LaneConformance, absltest.TestCase):
    env_name, backend, options = "atari:Breakout", "ale", _SHORT_BREAKOUT


class GymCartPoleLaneTest(_LaneConformance, absltest.TestCase):
    env_name, backend = "gym:CartPole-v1", "gym"


class AtariRegistryConformanceTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    """The single Atari environment as the registry builds it (float32 rewards and discounts)."""

    def make_object_under_test(self):
        return registry.make_environment("atari:Pong", seed=0, **_SHORT_BREAKOUT)


# ----------------------------------------------------------------------------
# Auto-reset semantics against a reference model.
# ----------------------------------------------------------------------------


class ScriptedEnv(dm_env.Environment):
    """Episode k lasts lengths[k % len(lengths)] steps; observations say where the lane is.

    Observation: [episode, t, last action]; reward t + action; episodes end by
    termination (odd episodes) or truncation (even ones, discount 1).
    """

    def __init__(self, seed: int, lengths: tuple[int, ...]) -> None:
        self._lengths = lengths
        self._episode = -1
        self._t = 0

    def _obs(self, action: int) -> np.ndarray:
        return np.array([self._episode, self._t, action], np.int64)

    def reset(self) -> dm_env.TimeStep:
        self._episode += 1
        self._t = 0
        return dm_env.restart(self._obs(-1))

    def step(self, action) -> dm_env.TimeStep:
        self._t += 1
        reward = np.float32(self._t + int(action))
        if self._t < self._lengths[self._episode % len(self._lengths)]:
            return dm_env.transition(reward, self._obs(int(action)))
        if self._episode % 2:
            return dm_env.termination(reward, self._obs(int(action)))
        return dm_env.truncation(reward, self._obs(int(action)))

    def observation_spec(self):
        return specs.Array((3,), np.int64, "observation")

    def action_spec(self):
        return specs.DiscreteArray(3, dtype=np.int64, name="action")


def make_scripted(seed: int, lengths_per_lane: tuple[tuple[int, ...], ...]) -> ScriptedEnv:
    return ScriptedEnv(seed, lengths_per_lane[seed % len(lengths_per_lane)])


def _reference(lengths: tuple[int, ...], actions: list[int]) -> list[tuple]:
    """What one lane must report: reset, then one timestep per action, FIRST after every LAST."""
    out = [(FIRST, 0.0, 1.0, (0, 0, -1))]
    episode, t, after_last = 0, 0, False
    for action in actions:
        if after_last:
            episode, t, after_last = episode + 1, 0, False
            out.append((FIRST, 0.0, 1.0, (episode, 0, -1)))
            continue
        t += 1
        reward = float(t + action)
        if t < lengths[episode % len(lengths)]:
            out.append((MID, reward, 1.0, (episode, t, action)))
        else:
            after_last = True
            out.append((LAST, reward, 0.0 if episode % 2 else 1.0, (episode, t, action)))
    return out


def _check_backend(backend: str, lengths_per_lane, actions: np.ndarray) -> None:
    num_lanes = len(lengths_per_lane)
    factory = functools.partial(make_scripted, lengths_per_lane=lengths_per_lane)
    if backend == "gym":  # The scripted lanes as gymnasium envs, batched by the gym backend.
        env = GymnasiumBatchedEnvironment([DmEnvToGymnasium(factory(i)) for i in range(num_lanes)], name="scripted")
    else:
        env = registry.make_lanes(factory, num_lanes, seed=0, backend=backend)
    try:
        timesteps = [env.reset()] + [env.step(a) for a in actions]
    finally:
        env.close()
    for lane in range(num_lanes):
        expected = _reference(lengths_per_lane[lane], actions[:, lane].tolist())
        got = [(dm_env.StepType(int(ts.step_type[lane])), float(ts.reward[lane]), float(ts.discount[lane]),
                tuple(ts.observation[lane].tolist())) for ts in timesteps]
        assert got == expected, f"{backend} lane {lane} differs from the reference"


_lanes = st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), min_size=1, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths_per_lane=_lanes, seed=st.integers(0, 2**16), num_steps=st.integers(1, 40))
def test_sync_lanes_follow_the_auto_reset_rules(lengths_per_lane, seed, num_steps):
    actions = np.random.default_rng(seed).integers(0, 3, (num_steps, len(lengths_per_lane)))
    _check_backend("sync", lengths_per_lane, actions)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths_per_lane=_lanes, seed=st.integers(0, 2**16), num_steps=st.integers(1, 40))
def test_gym_lanes_follow_the_auto_reset_rules(lengths_per_lane, seed, num_steps):
    actions = np.random.default_rng(seed).integers(0, 3, (num_steps, len(lengths_per_lane)))
    _check_backend("gym", lengths_per_lane, actions)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths_per_lane=_lanes, seed=st.integers(0, 2**16))
def test_subprocess_lanes_follow_the_auto_reset_rules(lengths_per_lane, seed):
    actions = np.random.default_rng(seed).integers(0, 3, (30, len(lengths_per_lane)))
    _check_backend("subprocess", lengths_per_lane, actions)
    assert multiprocessing.active_children() == []
