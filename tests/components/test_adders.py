"""Tests for `components.adders.NStepTransitionAdder`, with hand-computed n-step transitions.

Conventions: the observation s_t of a single-lane episode is the integer t
(made unique across episodes where it matters), the action taken in s_t is
100 + t, and step t+1 pays r_{t+1} with environment discount d_{t+1}. With
gamma = 0.9, an n-step transition from s_t over m <= n steps has
    R = sum_k gamma^k (d_{t+1} ... d_{t+k}) r_{t+k+1},   D = prod_k gamma d_{t+k+1}.
"""

from __future__ import annotations

from typing import NamedTuple

import dm_env
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.adders import NStepTransitionAdder
from tests import support

GAMMA = 0.9
FIRST, MID, LAST = dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST


class RecordingReplay(support.RecordingReplay):
    """Keeps every inserted batch, and every item unbatched."""

    @property
    def items(self) -> list["Item"]:
        out = []
        for batch in self.batches:
            for i in range(len(batch.reward)):
                out.append(Item(int(batch.observation[i]), int(batch.action[i]), float(batch.reward[i]),
                                float(batch.discount[i]), int(batch.next_observation[i])))
        return out


class Item(NamedTuple):
    observation: int
    action: int
    reward: float
    discount: float
    next_observation: int


def timestep(step_types, observations, rewards=None, discounts=None) -> dm_env.TimeStep:
    """A batched timestep; FIRST lanes get reward 0 and discount 1 as batched envs report."""
    n = len(step_types)
    return dm_env.TimeStep(
        step_type=np.asarray(step_types, dtype=np.int8),
        reward=np.asarray(rewards if rewards is not None else [0.0] * n, dtype=np.float32),
        discount=np.asarray(discounts if discounts is not None else [1.0] * n, dtype=np.float32),
        observation=np.asarray(observations, dtype=np.int64),
    )


def run_episode(adder, rewards, discounts, first_observation=0):
    """Feeds one single-lane episode: s_0, then steps t=1..T (the last is LAST)."""
    adder.add_first(timestep([FIRST], [first_observation]))
    T = len(rewards)
    for t in range(1, T + 1):
        step_type = LAST if t == T else MID
        obs = first_observation + t
        adder.add(np.array([100 + obs - 1]), timestep([step_type], [obs], [rewards[t - 1]], [discounts[t - 1]]))


def assert_items(actual, expected) -> None:
    assert len(actual) == len(expected), (actual, expected)
    for a, e in zip(actual, expected):
        assert (a.observation, a.action, a.next_observation) == (e[0], e[1], e[4]), (a, e)
        assert a.reward == pytest.approx(e[2], abs=1e-5), (a, e)
        assert a.discount == pytest.approx(e[3], abs=1e-6), (a, e)


def test_one_step_termination():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=1, discount=GAMMA)
    run_episode(adder, [1.0, 2.0, 3.0], [1.0, 1.0, 0.0])
    assert_items(replay.items, [
        (0, 100, 1.0, 0.9, 1),
        (1, 101, 2.0, 0.9, 2),
        (2, 102, 3.0, 0.0, 3),
    ])
    assert len(replay.batches) == 3  # One item written per step.


def test_two_step_termination_writes_the_tail():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=2, discount=GAMMA)
    run_episode(adder, [1.0, 2.0, 3.0], [1.0, 1.0, 0.0])
    assert_items(replay.items, [
        (0, 100, 1 + 0.9 * 2, 0.81, 2),
        (1, 101, 2 + 0.9 * 3, 0.0, 3),
        (2, 102, 3.0, 0.0, 3),
    ])
    # Nothing after step 1; s_0's transition at step 2; both tail transitions at the LAST.
    assert [len(b.reward) for b in replay.batches] == [1, 2]


@pytest.mark.parametrize("last_discount, tail_discounts", [
    (0.0, (0.0, 0.0, 0.0)),  # Termination: the tail does not bootstrap.
    (1.0, (0.729, 0.81, 0.9)),  # Truncation (LAST with discount 1): the tail keeps its bootstrap.
], ids=["termination", "truncation"])
def test_three_step_episode_end(last_discount, tail_discounts):
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=3, discount=GAMMA)
    run_episode(adder, [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, last_discount])
    assert_items(replay.items, [
        (0, 100, 1 + 0.9 * 2 + 0.81 * 3, 0.729, 3),
        (1, 101, 2 + 0.9 * 3 + 0.81 * 4, tail_discounts[0], 4),
        (2, 102, 3 + 0.9 * 4, tail_discounts[1], 4),
        (3, 103, 4.0, tail_discounts[2], 4),
    ])


def test_episode_shorter_than_n():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=3, discount=GAMMA)
    run_episode(adder, [5.0], [0.0])
    assert_items(replay.items, [(0, 100, 5.0, 0.0, 1)])


def test_environment_discounts_enter_reward_and_bootstrap():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=2, discount=GAMMA)
    run_episode(adder, [1.0, 2.0, 3.0], [0.5, 0.5, 0.0])
    assert_items(replay.items, [
        (0, 100, 1 + 0.9 * 0.5 * 2, (0.9 * 0.5) ** 2, 2),
        (1, 101, 2 + 0.9 * 0.5 * 3, 0.0, 3),
        (2, 102, 3.0, 0.0, 3),
    ])


def test_truncation_with_environment_discounts():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=2, discount=GAMMA)
    run_episode(adder, [1.0, 2.0], [0.5, 0.5])
    assert_items(replay.items, [
        (0, 100, 1 + 0.45 * 2, 0.45 ** 2, 2),
        (1, 101, 2.0, 0.45, 2),
    ])


def test_two_lanes_with_different_episode_ends_stay_separate():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=2, discount=GAMMA)
    # Lane 0: obs 0, 1, 2 (terminates), then restarts at 10. Lane 1: obs 100..104 (terminates).
    # Rewards: 1 per step in lane 0, 2 per step in lane 1. Actions: 1000 + obs.
    adder.add_first(timestep([FIRST, FIRST], [0, 100]))
    steps = [
        # (step types, next observations, rewards, discounts, actions)
        ([MID, MID], [1, 101], [1, 2], [1, 1], [1000, 1100]),
        ([LAST, MID], [2, 102], [1, 2], [0, 1], [1001, 1101]),
        ([FIRST, MID], [10, 103], [0, 2], [1, 1], [-1, 1102]),  # Lane 0's action is ignored.
        ([MID, LAST], [11, 104], [1, 2], [1, 0], [1010, 1103]),
        ([MID, FIRST], [12, 200], [1, 0], [1, 1], [1011, -1]),
    ]
    per_call = []
    for step_types, obs, rewards, discounts, actions in steps:
        before = len(replay.items)
        adder.add(np.array(actions), timestep(step_types, obs, rewards, discounts))
        per_call.append(replay.items[before:])
    expected = [
        [],
        [(0, 1000, 1.9, 0.0, 2), (1, 1001, 1.0, 0.0, 2), (100, 1100, 3.8, 0.81, 102)],
        [(101, 1101, 3.8, 0.81, 103)],  # Nothing for lane 0 on its FIRST.
        [(102, 1102, 3.8, 0.0, 104), (103, 1103, 2.0, 0.0, 104)],
        [(10, 1010, 1.9, 0.81, 12)],  # Lane 0 restarted from obs 10; lane 1 writes nothing.
    ]
    for actual, want in zip(per_call, expected):
        assert_items(actual, want)
    for item in replay.items:  # No transition mixes lanes.
        assert (item.observation >= 100) == (item.next_observation >= 100)


def test_step_after_last_writes_nothing_and_restarts_the_lane():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=2, discount=GAMMA)
    run_episode(adder, [1.0, 2.0], [1.0, 0.0])
    batches = len(replay.batches)
    # The batched env's restart: FIRST with a new observation; the action is meaningless.
    adder.add(np.array([-1]), timestep([FIRST], [50]))
    assert len(replay.batches) == batches  # Nothing inserted.
    adder.add(np.array([150]), timestep([MID], [51], [7.0], [1.0]))
    adder.add(np.array([151]), timestep([LAST], [52], [8.0], [0.0]))
    assert_items(replay.items[-2:], [(50, 150, 7 + 0.9 * 8, 0.0, 52), (51, 151, 8.0, 0.0, 52)])


def test_add_first_drops_partial_windows():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=3, discount=GAMMA)
    adder.add_first(timestep([FIRST], [0]))
    adder.add(np.array([100]), timestep([MID], [1], [1.0], [1.0]))
    adder.add_first(timestep([FIRST], [20]))  # E.g. EnvironmentLoop.reset.
    adder.add(np.array([120]), timestep([LAST], [21], [4.0], [0.0]))
    assert_items(replay.items, [(20, 120, 4.0, 0.0, 21)])


def test_extras_of_the_first_step_travel_with_the_transition():
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=2, discount=GAMMA)
    adder.add_first(timestep([FIRST, FIRST], [0, 100]))
    adder.add(np.array([0, 0]), timestep([MID, MID], [1, 101], [1, 1]), extras={"logp": np.array([-0.5, -1.5])})
    adder.add(np.array([0, 0]), timestep([MID, LAST], [2, 102], [1, 1], [1, 0]),
              extras={"logp": np.array([-2.5, -3.5])})
    (batch,) = replay.batches
    # Lane 0's s_0 transition, then lane 1's two tail transitions (from s_100 and s_101).
    np.testing.assert_array_equal(batch.observation, [0, 100, 101])
    np.testing.assert_allclose(batch.extras["logp"], [-0.5, -1.5, -3.5])
    assert batch.reward.dtype == np.float32 and batch.discount.dtype == np.float32


def test_argument_and_usage_errors():
    with pytest.raises(ValueError, match="n_step"):
        NStepTransitionAdder(RecordingReplay(), n_step=0, discount=0.9)
    with pytest.raises(ValueError, match="discount"):
        NStepTransitionAdder(RecordingReplay(), n_step=1, discount=1.5)
    adder = NStepTransitionAdder(RecordingReplay(), n_step=1, discount=0.9)
    with pytest.raises(RuntimeError, match="add_first"):
        adder.add(np.array([0]), timestep([MID], [1], [1.0]))
    adder.add_first(timestep([FIRST, FIRST], [0, 0]))
    with pytest.raises(ValueError, match="2 lanes"):
        adder.add(np.array([0]), timestep([MID], [1], [1.0]))
    adder.reset()
    with pytest.raises(RuntimeError, match="add_first"):
        adder.add(np.array([0, 0]), timestep([MID, MID], [1, 1], [1.0, 1.0]))


# ----------------------------------------------------------------------------
# Property: every step is written once, with the directly computed n-step sums.
# ----------------------------------------------------------------------------

episode_strategy = st.tuples(
    st.lists(st.integers(-5, 5), min_size=1, max_size=8),  # Rewards.
    st.lists(st.sampled_from([1.0, 0.5]), min_size=8, max_size=8),  # Mid-episode env discounts.
    st.booleans(),  # Terminates (else truncated).
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(1, 4), gamma=st.sampled_from([0.9, 1.0, 0.5]),
       episodes=st.lists(episode_strategy, min_size=1, max_size=3))
def test_every_step_is_written_once_with_its_discounted_sum(n, gamma, episodes):
    replay = RecordingReplay()
    adder = NStepTransitionAdder(replay, n_step=n, discount=gamma)
    expected: dict[int, tuple[float, float, int]] = {}
    obs = 0
    for e, (rewards, mid_discounts, terminates) in enumerate(episodes):
        T = len(rewards)
        discounts = list(mid_discounts[:T - 1]) + [0.0 if terminates else 1.0]
        first_obs = obs
        if e == 0:
            adder.add_first(timestep([FIRST], [first_obs]))
        else:
            adder.add(np.array([-1]), timestep([FIRST], [first_obs]))  # Batched-env restart.
        for t in range(1, T + 1):
            adder.add(np.array([100 + obs]),
                      timestep([LAST if t == T else MID], [obs + 1], [rewards[t - 1]], [discounts[t - 1]]))
            obs += 1
        obs += 1  # Next episode's first observation is new.
        for t in range(T):  # Transition from s_t, computed directly.
            m = min(n, T - t)
            total, bootstrap = 0.0, 1.0
            for k in range(m):
                total += bootstrap * rewards[t + k]
                bootstrap *= gamma * discounts[t + k]
            expected[first_obs + t] = (total, bootstrap, first_obs + t + m)

    items = replay.items
    assert len(items) == sum(len(r) for r, _, _ in episodes)  # One transition per step.
    assert len({item.observation for item in items}) == len(items)  # Each step exactly once.
    for item in items:
        total, bootstrap, next_obs = expected[item.observation]
        assert item.action == 100 + item.observation
        assert item.next_observation == next_obs
        assert item.reward == pytest.approx(total, rel=1e-5, abs=1e-4)
        assert item.discount == pytest.approx(bootstrap, rel=1e-5, abs=1e-7)
