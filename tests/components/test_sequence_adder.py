"""`components.sequence_adder.SequenceAdder`: boundaries, overlap, padding at episode ends, stored states.

Conventions: lane i's observation at its episode step t is 1000 * i + 100 * episode + t, the action taken
there is the same number, the reward of the step after it is that number too, and the core state the
policy reports before it is (number, -number), so every stored value says where it came from.
"""

from __future__ import annotations

import dm_env
import numpy as np
import pytest

from components.sequence_adder import SequenceAdder
from tests import support

FIRST, MID, LAST = (int(s) for s in (dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST))


def _timestep(step_type, observation, reward=None, discount=None):
    n = len(step_type)
    return dm_env.TimeStep(np.asarray(step_type, np.int8),
                           np.zeros(n, np.float32) if reward is None else np.asarray(reward, np.float32),
                           np.ones(n, np.float32) if discount is None else np.asarray(discount, np.float32),
                           np.asarray(observation, np.float32)[:, None])


def _run(episode_lengths, length, period, terminal_discount=0.0):
    """One lane per entry of `episode_lengths` (each a list of episode lengths), stepped in lockstep."""
    lanes = len(episode_lengths)
    replay = support.RecordingReplay()
    adder = SequenceAdder(replay, length, period)
    schedule = []  # Per lane: (episode, t) at every step, with None for the FIRST after each LAST.
    for lane, lengths in enumerate(episode_lengths):
        steps = []
        for episode, episode_length in enumerate(lengths):
            steps += [(episode, t) for t in range(episode_length + 1)]
        schedule.append(steps)
    horizon = min(len(s) for s in schedule)

    def number(lane, k):
        episode, t = schedule[lane][k]
        return 1000 * lane + 100 * episode + t

    def step_type(lane, k):
        episode, t = schedule[lane][k]
        if t == 0:
            return FIRST
        return LAST if t == episode_lengths[lane][episode] else MID

    adder.add_first(_timestep([FIRST] * lanes, [number(i, 0) for i in range(lanes)]))
    for k in range(1, horizon):
        previous = np.array([number(i, k - 1) for i in range(lanes)], np.float32)
        types = [step_type(i, k) for i in range(lanes)]
        reward = np.where(np.array(types) == FIRST, 0.0, previous)
        discount = np.where(np.array(types) == LAST, terminal_discount, 1.0)
        extras = {"core_state": np.stack([previous, -previous], axis=1)}
        adder.add(previous.astype(np.int64), _timestep(types, [number(i, k) for i in range(lanes)], reward,
                                                      discount), extras)
    return [item for batch in replay.batches for item in _unbatch(batch)]


def _unbatch(batch):
    return [type(batch)(*(field[i] for field in batch)) for i in range(len(batch.mask))]


def test_a_long_episode_becomes_overlapping_sequences_and_a_padded_tail():
    items = _run([[10]], length=4, period=2)
    starts = [int(item.observation[0, 0]) for item in items]
    assert starts == [0, 2, 4, 6]  # A new sequence every 2 steps; [6, 10) is the last, with 4 real steps.
    for item in items:
        start = int(item.observation[0, 0])
        real = int(item.mask.sum())
        np.testing.assert_array_equal(item.observation[:real + 1, 0], np.arange(start, start + real + 1))
        np.testing.assert_array_equal(item.action[:real], np.arange(start, start + real))
        np.testing.assert_array_equal(item.reward[:real], np.arange(start, start + real))
        np.testing.assert_array_equal(item.core_state, [start, -start])  # The state before its first step.
    assert items[0].step_type.tolist() == [FIRST, MID, MID, MID, MID]
    assert items[-1].step_type.tolist() == [MID, MID, MID, MID, LAST]
    assert items[-1].discount.tolist() == [1, 1, 1, 0]  # The termination's discount is kept.


def test_an_episode_shorter_than_a_sequence_is_padded_and_the_next_one_starts_fresh():
    items = _run([[3, 2]], length=5, period=2)
    assert len(items) == 2
    first, second = items
    assert first.mask.tolist() == [1, 1, 1, 0, 0]
    assert first.step_type.tolist() == [FIRST, MID, MID, LAST, LAST, LAST]
    np.testing.assert_array_equal(first.observation[:, 0], [0, 1, 2, 3, 0, 0])  # o_3 is the bootstrap.
    assert first.reward[3:].tolist() == [0, 0] and first.discount[3:].tolist() == [0, 0]
    assert int(second.observation[0, 0]) == 100 and second.step_type[0] == FIRST  # Episode 1 from its start.
    assert second.mask.tolist() == [1, 1, 0, 0, 0]


def test_every_step_is_in_a_sequence_and_none_crosses_an_episode_boundary():
    lengths = [[7, 1, 12], [3, 3, 3, 10], [22]]  # 23 steps per lane: every episode ends together.
    items = _run(lengths, length=6, period=3, terminal_discount=1.0)
    seen = {}
    for item in items:
        real = int(item.mask.sum())
        episodes = {int(o) // 100 for o in item.observation[:real + 1, 0]}
        assert len(episodes) == 1  # Lane and episode are fixed within a sequence (bootstrap included).
        for action in item.action[:real]:
            seen[int(action)] = seen.get(int(action), 0) + 1
    for lane, episode_lengths in enumerate(lengths):
        for episode, length in enumerate(episode_lengths):
            for t in range(length):
                assert seen.get(1000 * lane + 100 * episode + t, 0) >= 1, (lane, episode, t)


def test_stored_states_and_layout_match_the_replay_spec():
    from components.specs import EnvironmentSpec
    from components.types import sequence_spec
    from dm_env import specs
    spec = EnvironmentSpec(observations=specs.Array((1,), np.float32), actions=specs.DiscreteArray(3),
                           rewards=specs.Array((), np.float32), discounts=specs.BoundedArray((), np.float32, 0, 1))
    item_spec = sequence_spec(spec, 4, 2)
    for item in _run([[9], [5]], length=4, period=2):
        for field, field_spec in zip(item, item_spec):
            assert np.shape(field) == field_spec.shape
        assert item.core_state.dtype == np.float32 and item.step_type.dtype == np.int8


def test_missing_core_states_and_bad_lengths_are_refused_with_what_was_expected():
    adder = SequenceAdder(support.RecordingReplay(), 4, 2)
    adder.add_first(_timestep([FIRST], [0]))
    with pytest.raises(ValueError, match=r"needs the policy's extras\['core_state'\].*got extras with keys \['log_prob'\]"):
        adder.add(np.zeros(1, np.int64), _timestep([MID], [1]), {"log_prob": np.zeros(1)})
    with pytest.raises(ValueError, match=r"period must be an integer in \[1, length=4\], got 5"):
        SequenceAdder(support.RecordingReplay(), 4, 5)
