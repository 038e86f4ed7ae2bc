"""Tests for `components.frame_replay`: frames stored once, stacks rebuilt bit-identical.

The reference is the plain path: the same stream of batched timesteps goes
through an `NStepTransitionAdder` into a `UniformReplay` of full observations
and, with `observation_store`, into a `FrameStackReplay`; whatever the second
holds or samples must equal what the first does. Streams are random frames from
a tiny alphabet (so frames repeat by chance) over several lanes, with random
episode lengths and every episode-start convention: the first frame repeated,
zero padding, the stack continued (a lost life) and the very same stack again.
"""

from __future__ import annotations

import threading
from typing import Iterator

import dm_env
import numpy as np
import pytest
import tree
from dm_env import specs
from hypothesis import given, settings
from hypothesis import strategies as st

from components.adders import NStepTransitionAdder
from components.core import Replay
from components.frame_replay import FrameStackReplay, frame_capacity, frame_transition_spec
from components.frame_store import FrameStore
from components.replay import UniformReplay
from components.specs import EnvironmentSpec
from components.types import PrioritizedSample, Transition, transition_spec
from tests import support

FIRST, MID, LAST = dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST
CONVENTIONS = ("repeat", "zero", "continue", "same")
GAMMA = 0.9


def env_spec(stack_shape=(4, 5, 3), dtype=np.uint8) -> EnvironmentSpec:
    return EnvironmentSpec(
        observations=specs.Array(stack_shape, dtype, "observation"),
        actions=specs.Array((), np.int64, "action"),  # Unique per lane-step: identifies a transition.
        rewards=specs.Array((), np.float32, "reward"),
        discounts=specs.Array((), np.float32, "discount"),
    )


def fake_stream(seed: int, num_lanes: int, num_steps: int, stack_shape=(4, 5, 3), conventions=CONVENTIONS,
                mean_length: float = 5.0, values: int = 3) -> Iterator[tuple[np.ndarray | None, dm_env.TimeStep]]:
    """(actions, timestep) pairs; the first has actions None (for add_first).

    Frames are random in [0, values) and repeat the previous frame a fifth of the
    time. A lane ends an episode with probability 1 / mean_length per step; its
    next step is FIRST, with a start convention drawn from `conventions`.
    """
    rng = np.random.default_rng(seed)
    frame_shape = stack_shape[1:]
    stacks = np.zeros((num_lanes,) + tuple(stack_shape), np.uint8)

    def new_frame(previous):
        if previous is not None and rng.random() < 0.2:
            return previous.copy()
        return rng.integers(0, values, frame_shape).astype(np.uint8)

    def push(i):
        stacks[i, :-1] = stacks[i, 1:].copy()
        stacks[i, -1] = new_frame(stacks[i, -1])

    def start(i, convention):
        if convention == "repeat":
            stacks[i] = new_frame(None)
        elif convention == "zero":
            stacks[i] = 0
            stacks[i, -1] = new_frame(None)
        elif convention == "continue":
            push(i)
        # "same": the stack the lane's LAST ended with, unchanged.

    for i in range(num_lanes):
        start(i, conventions[rng.integers(len(conventions))])
    yield None, dm_env.TimeStep(np.full(num_lanes, FIRST, np.int8), np.zeros(num_lanes, np.float32),
                                np.ones(num_lanes, np.float32), stacks.copy())
    ended = np.zeros(num_lanes, bool)
    counter = 0
    for _ in range(num_steps):
        step_types = np.full(num_lanes, MID, np.int8)
        rewards = rng.normal(size=num_lanes).astype(np.float32)
        discounts = np.ones(num_lanes, np.float32)
        for i in range(num_lanes):
            if ended[i]:
                step_types[i], rewards[i], ended[i] = FIRST, 0.0, False
                start(i, conventions[rng.integers(len(conventions))])
            else:
                push(i)
                if rng.random() < 1.0 / mean_length:
                    step_types[i], discounts[i], ended[i] = LAST, float(rng.integers(2)), True
        actions = counter + np.arange(num_lanes, dtype=np.int64)
        counter += num_lanes
        yield actions, dm_env.TimeStep(step_types, rewards, discounts, stacks.copy())


def feed(stream, *adders) -> None:
    for actions, timestep in stream:
        for adder in adders:
            if actions is None:
                adder.add_first(timestep)
            else:
                adder.add(actions, timestep)


def generous_frames(capacity: int, num_lanes: int, stack: int, n_step: int) -> int:
    """Frames enough for any stream: an episode writes at most stack + m frames for m >= 1 transitions."""
    return (stack + 1) * capacity + frame_capacity(1, num_lanes, stack, n_step, 0.0)


def inner_items(replay: UniformReplay) -> Transition:
    """The items (Transitions without extras) a UniformReplay holds, read through its public save()."""
    return Transition(*(leaf[:replay.size()] for leaf in replay.save()["storage"]))


# The replay against the plain path.


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("conventions", [("repeat",), ("zero",), ("continue",), CONVENTIONS])
def test_frame_replay_holds_and_samples_what_the_plain_replay_does(n_step, conventions):
    num_lanes, capacity, spec = 4, 300, env_spec()
    plain = UniformReplay(transition_spec(spec), capacity, seed=7)
    frames = FrameStackReplay.uniform(spec, capacity, num_lanes, n_step, seed=7,
                                      capacity_frames=generous_frames(capacity, num_lanes, 4, n_step))
    feed(fake_stream(1, num_lanes, 400, conventions=conventions),  # ~1,400 items: the replay wraps.
         NStepTransitionAdder(plain, n_step, GAMMA),
         NStepTransitionAdder(frames, n_step, GAMMA, observation_store=frames.store))
    assert frames.size() == plain.size() == capacity

    want, held = inner_items(plain), inner_items(frames.inner)
    np.testing.assert_array_equal(frames.store.stacks(held.observation), want.observation)
    np.testing.assert_array_equal(frames.store.stacks(held.next_observation), want.next_observation)
    for name in ("action", "reward", "discount"):
        np.testing.assert_array_equal(getattr(held, name), getattr(want, name))

    for batch_size in (1, 32, 64):  # Same seed and items: the same draws.
        got, expected = frames.sample(batch_size), plain.sample(batch_size)
        for name in Transition._fields[:-1]:
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
        assert got.observation.dtype == np.uint8 and got.observation.shape == (batch_size, 4, 5, 3)
    assert frames.redrawn_items == 0


@pytest.mark.parametrize("conventions, mean_length", [(("zero",), 45), (("repeat", "continue"), 25)])
def test_default_frame_capacity_keeps_every_item_when_episodes_are_long_enough(conventions, mean_length):
    """Episodes of k / margin steps or more (k = 2 frames per zero-padded start, else 1) lose nothing.

    The capacity dwarfs the lag term, so the margin is what is tested: with episodes of 15
    (zero padding) or 10 steps (repeated frame) this stream does leave stale items.
    """
    num_lanes, capacity, n_step = 2, 3_000, 1
    frames = FrameStackReplay.uniform(env_spec(), capacity, num_lanes, n_step, seed=0)
    assert frames.store.capacity_frames == frame_capacity(capacity, num_lanes, 4, n_step) == 3_150 + 60
    adder = NStepTransitionAdder(frames, n_step, GAMMA, observation_store=frames.store)
    stream = fake_stream(2, num_lanes, 8_000, conventions=conventions, mean_length=mean_length)
    for k, (actions, timestep) in enumerate(stream):
        adder.add_first(timestep) if actions is None else adder.add(actions, timestep)
        if frames.size() == capacity and k % 25 == 0:
            held = inner_items(frames.inner)
            assert frames.store.valid(held.observation).all()
            assert frames.store.valid(held.next_observation).all()
    assert frames.store.frames_written > 4 * frames.store.capacity_frames  # The ring wrapped.


def test_stale_items_are_never_returned():
    """A ring far too small for the items: samples are redrawn, never wrong."""
    num_lanes, capacity, n_step, spec = 3, 500, 2, env_spec()
    frames = FrameStackReplay.uniform(spec, capacity, num_lanes, n_step, seed=3, capacity_frames=150)
    recorder = RecordingReplay()
    feed(fake_stream(4, num_lanes, 1_500, mean_length=3),
         NStepTransitionAdder(recorder, n_step, GAMMA),
         NStepTransitionAdder(frames, n_step, GAMMA, observation_store=frames.store))
    truth = recorder.by_action()
    held = inner_items(frames.inner)
    assert not frames.store.valid(held.observation).all()  # Stale items are in there...
    for _ in range(20):
        batch = frames.sample(64)
        for i, action in enumerate(batch.action.tolist()):  # ... yet every sample is right.
            observation, next_observation = truth[action]
            np.testing.assert_array_equal(batch.observation[i], observation)
            np.testing.assert_array_equal(batch.next_observation[i], next_observation)
    assert frames.redrawn_items > 0


def test_sample_raises_when_every_item_is_stale():
    frames = FrameStackReplay.uniform(env_spec(), 10, 1, 1, seed=0, capacity_frames=8, max_redraws=3)
    frames.store.add(np.zeros((1, 4, 5, 3), np.uint8))  # Handle 0; then overwrite it.
    for k in range(1, 9):
        frames.store.add(np.full((1, 4, 5, 3), k, np.uint8))
    frames.insert(Transition(np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(2, np.float32),
                             np.zeros(2, np.float32), np.zeros(2, np.int64)))
    with pytest.raises(RuntimeError, match="stale after 3 redraws"):
        frames.sample(4)


class RecordingReplay(support.RecordingReplay):
    """Keeps every inserted item, by its (unique) action."""

    def by_action(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return {int(a): (b.observation[i], b.next_observation[i])
                for b in self.batches for i, a in enumerate(b.action)}


# Prioritized inner replays.


class FakePrioritizedReplay(Replay):
    """Uniform draws wrapped as a PrioritizedSample; records update_priorities calls."""

    def __init__(self, inner: UniformReplay) -> None:
        self.inner = inner
        self.updates: list[tuple[np.ndarray, np.ndarray]] = []
        self._rng = np.random.default_rng(0)

    def insert(self, items) -> None:
        self.inner.insert(items)

    def sample(self, batch_size):
        keys = self._rng.integers(0, self.inner.size(), batch_size)
        data = tree_index(inner_items(self.inner), keys)
        probabilities = np.full(batch_size, 1.0 / self.inner.size())
        return PrioritizedSample(data, keys, probabilities)

    def update_priorities(self, keys, priorities) -> None:
        self.updates.append((keys, priorities))

    def size(self) -> int:
        return self.inner.size()

    @property
    def capacity(self) -> int:
        return self.inner.capacity


def tree_index(nest, index):
    return tree.map_structure(lambda x: x[index], nest)


def test_prioritized_inner_replay_keeps_its_fields_and_gets_priority_updates():
    spec, num_lanes = env_spec(), 2
    inner = FakePrioritizedReplay(UniformReplay(frame_transition_spec(spec), 100, seed=0))
    frames = FrameStackReplay(inner, spec.observations, num_lanes, n_step=1, capacity_frames=150)
    recorder = RecordingReplay()
    feed(fake_stream(5, num_lanes, 200), NStepTransitionAdder(recorder, 1, GAMMA),
         NStepTransitionAdder(frames, 1, GAMMA, observation_store=frames.store))
    truth = recorder.by_action()
    for _ in range(10):
        batch = frames.sample(16)
        assert isinstance(batch, PrioritizedSample)
        assert batch.keys.shape == batch.probabilities.shape == (16,)
        for i, action in enumerate(batch.data.action.tolist()):
            np.testing.assert_array_equal(batch.data.observation[i], truth[action][0])
            np.testing.assert_array_equal(batch.data.next_observation[i], truth[action][1])
    frames.update_priorities(np.array([1, 2]), np.array([0.5, 2.0]))
    assert len(inner.updates) == 1
    assert not hasattr(FrameStackReplay.uniform(spec, 10, 1, 1), "update_priorities")


# The frame store itself.


@st.composite
def store_programs(draw):
    """A stack size, lane count, ring size and a list of adds (stacks per lane, maybe a lane subset)."""
    stack = draw(st.integers(1, 4))
    num_lanes = draw(st.integers(1, 3))
    capacity = draw(st.integers(num_lanes * stack, 40))
    adds = []
    for _ in range(draw(st.integers(1, 30))):
        lanes = draw(st.sampled_from([None] + [[i] for i in range(num_lanes)]))
        kinds = [draw(st.sampled_from(["shift", "shift", "random", "repeat", "zero"]))
                 for _ in range(num_lanes if lanes is None else 1)]
        seed = draw(st.integers(0, 2**16))
        adds.append((lanes, kinds, seed))
    return stack, num_lanes, capacity, adds


@settings(max_examples=80, deadline=None)
@given(store_programs())
def test_store_rebuilds_any_sequence_of_stacks_exactly(program):
    stack, num_lanes, capacity, adds = program
    store = FrameStore((stack, 2, 2), capacity, num_lanes=num_lanes)
    last = np.zeros((num_lanes, stack, 2, 2), np.uint8)
    added: list[tuple[int, np.ndarray]] = []
    for lanes, kinds, seed in adds:
        rng = np.random.default_rng(seed)
        rows = list(range(num_lanes)) if lanes is None else lanes
        batch = np.empty((len(rows), stack, 2, 2), np.uint8)
        for r, (lane, kind) in enumerate(zip(rows, kinds)):
            frame = rng.integers(0, 2, (2, 2), dtype=np.uint8)
            if kind == "shift":
                batch[r] = np.concatenate([last[lane, 1:], frame[None]])
            elif kind == "random":
                batch[r] = rng.integers(0, 2, (stack, 2, 2), dtype=np.uint8)
            elif kind == "repeat":
                batch[r] = frame
            else:
                batch[r] = 0
                batch[r, -1] = frame
            last[lane] = batch[r]
        handles = store.add(batch, lanes=lanes)
        np.testing.assert_array_equal(store.stacks(handles), batch)  # The newest stacks always survive.
        added.extend(zip(handles.tolist(), batch))
    all_handles = np.array([h for h, _ in added])
    stacks, ok = store.gather(all_handles)
    assert ok.any()
    for (handle, want), got, valid in zip(added, stacks, ok):
        if valid:
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ok, store.valid(all_handles))


def test_keyframes_store_a_leading_run_of_equal_frames_once():
    store = FrameStore((4, 2, 2), 100)
    a, b, c = (np.full((2, 2), v, np.uint8) for v in (1, 2, 3))
    zero = np.zeros((2, 2), np.uint8)
    cases = [  # (stack, frames it costs)
        (np.stack([a, a, a, a]), 1),  # Repeated first frame: one frame pointing at itself.
        (np.stack([a, a, a, b]), 1),  # The usual step.
        (np.stack([zero, zero, zero, c]), 2),  # Zero padding: the zero frame once, then c.
        (np.stack([zero, zero, c, c]), 1),
        (np.stack([zero, c, c, a]), 1),
        (np.stack([a, b, a, c]), 4),  # Anything else: the whole stack.
        (np.stack([a, b, a, c]), 4),  # The same stack again is not a shift of itself.
    ]
    for observation, cost in cases:
        before = store.frames_written
        handle = store.add(observation[None])
        assert store.frames_written - before == cost, observation[:, 0, 0]
        np.testing.assert_array_equal(store.stacks(handle)[0], observation)


def test_lanes_are_independent_and_a_lane_may_be_added_alone():
    store = FrameStore((2, 1, 1), 50, num_lanes=2)
    h0 = store.add(np.array([[[[1]], [[2]]], [[[5]], [[6]]]], np.uint8))
    h1 = store.add(np.array([[[[6]], [[7]]]], np.uint8), lanes=[1])  # Shift of lane 1 only.
    assert store.frames_written == 5
    h2 = store.add(np.array([[[[2]], [[3]]], [[[7]], [[8]]]], np.uint8))
    assert store.frames_written == 7  # Both lanes shifted.
    np.testing.assert_array_equal(store.stacks(np.concatenate([h0, h1, h2]))[:, :, 0, 0],
                                  [[1, 2], [5, 6], [6, 7], [2, 3], [7, 8]])


def test_a_lane_idle_for_a_whole_ring_writes_its_next_shift_afresh():
    store = FrameStore((2, 1, 1), 6, num_lanes=2)
    store.add(np.array([[[[1]], [[2]]], [[[5]], [[6]]]], np.uint8))
    for t in range(8):  # Lane 0 alone overwrites lane 1's frames.
        store.add(np.array([[[[2 + t]], [[3 + t]]]], np.uint8), lanes=[0])
    before = store.frames_written
    handle = store.add(np.array([[[[6]], [[7]]]], np.uint8), lanes=[1])  # A shift of lane 1's last stack.
    assert store.frames_written - before == 2  # Its old frame is gone: both frames written.
    np.testing.assert_array_equal(store.stacks(handle)[0, :, 0, 0], [6, 7])


def test_float_frames_come_back_bit_identical():
    """-0.0 == 0.0 as values, so the shift test must compare bits."""
    store = FrameStore((3, 2), 20, dtype=np.float32)
    first = np.array([[[5.0, 1.0], [0.0, 0.0], [2.0, 3.0]]], np.float32)
    second = np.array([[[-0.0, 0.0], [2.0, 3.0], [4.0, np.nan]]], np.float32)  # Equal to a shift, not in bits.
    third = np.array([[[2.0, 3.0], [4.0, np.nan], [7.0, 8.0]]], np.float32)  # A shift in bits (nan != nan).
    handles = np.concatenate([store.add(first), store.add(second), store.add(third)])
    assert store.frames_written == 3 + 3 + 1
    got = store.stacks(handles)
    np.testing.assert_array_equal(got.view(np.uint32), np.concatenate([first, second, third]).view(np.uint32))


def test_rgb_frames_of_three_channels():
    store = FrameStore((12, 3, 3), 40, frame_channels=3)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 3, 3, 3), dtype=np.uint8)  # (frame, channel, H, W).
    handles = [store.add(frames[t:t + 4].reshape(1, 12, 3, 3))[0] for t in range(3)]
    assert store.frames_written == 4 + 1 + 1
    for t, handle in enumerate(handles):
        np.testing.assert_array_equal(store.stacks([handle])[0], frames[t:t + 4].reshape(12, 3, 3))


def test_stale_handles_are_detected_after_the_ring_wraps():
    store = FrameStore((4, 2, 2), 12)
    handles = [store.add(np.full((1, 4, 2, 2), t, np.uint8))[0] for t in range(3)]  # Keyframes of one frame.
    store.add(np.arange(16, dtype=np.uint8).reshape(1, 4, 2, 2))  # 4 frames.
    for t in range(8):  # The ring wraps: 3 + 4 + 8 = 15 frames written in 12 slots.
        store.add(np.concatenate([store.stacks([store.frames_written - 1])[0, 1:],
                                  np.full((1, 2, 2), 100 + t, np.uint8)])[None])
    assert store.valid(handles).tolist() == [False, False, False]
    assert store.valid([-1, store.frames_written, store.frames_written - 1]).tolist() == [False, False, True]
    with pytest.raises(ValueError, match="3 handle\\(s\\) are stale"):
        store.stacks(handles)
    stacks, ok = store.gather(handles)
    assert not ok.any() and not stacks.any()  # Invalid rows are zeros, never another stack.


def test_gather_while_another_thread_adds_never_returns_a_torn_stack():
    """A writer wraps a small ring nonstop; every stack the reader calls valid must be exact.

    Frame t holds t in its first four bytes, and handle h (h >= 3) is the stack of frames h-3..h.
    """
    store = FrameStore((4, 84, 84), 48)

    def frame(t):
        f = np.full((84, 84), t % 251, np.uint8)
        f.reshape(-1)[:4] = np.frombuffer(np.uint32(t).tobytes(), np.uint8)
        return f

    store.add(np.stack([frame(t) for t in range(4)])[None])
    done, reading = threading.Event(), threading.Event()

    def write():
        reading.wait(timeout=30)  # Writes while the reader reads (on a loaded machine it may start late).
        stack = np.stack([frame(t) for t in range(4)])
        for t in range(4, 6_000):
            stack = np.concatenate([stack[1:], frame(t)[None]])
            store.add(stack[None])
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    rng = np.random.default_rng(0)
    checked = stale = 0
    while not done.is_set() or checked == 0 or stale == 0:
        reading.set()
        newest = store.frames_written - 1
        handles = rng.integers(max(3, newest - 60), newest + 1, 64)
        stacks, ok = store.gather(handles)
        codes = stacks[:, :, 0, :4].copy().view(np.uint32)[..., 0]  # (B, 4) frame numbers.
        np.testing.assert_array_equal(codes[ok], handles[ok, None] + np.arange(-3, 1)[None])
        np.testing.assert_array_equal(stacks[ok, :, 1:], (codes[ok] % 251)[:, :, None, None] * np.ones((83, 84)))
        checked += int(ok.sum())
        stale += int((~ok).sum())
    writer.join()
    assert checked > 0 and stale > 0


# Memory.


def test_bytes_per_transition_for_a_million_atari_transitions():
    spec = env_spec((4, 84, 84))
    num_lanes, n_step, capacity = 8, 3, 2_000
    replay = FrameStackReplay.uniform(spec, capacity, num_lanes, n_step)
    store = replay.store
    frames = frame_capacity(capacity, num_lanes, 4, n_step)
    lane_state = num_lanes * 4 * (84 * 84 + 8)
    item_bytes = replay.inner.nbytes // capacity
    assert store.bytes_per_frame == 84 * 84 + 8
    assert replay.nbytes == frames * store.bytes_per_frame + lane_state + capacity * item_bytes

    million = 1_000_000
    total = frame_capacity(million, num_lanes, 4, n_step) * store.bytes_per_frame + lane_state + million * item_bytes
    assert total < 8e9
    assert total / million < 84 * 84 * 1.06  # vs 2 * 4 * 84 * 84 = 56,448 bytes for two stored stacks.
    line = replay.describe()
    assert "2,000 transitions" in line and "B/transition" in line and "\n" not in line


# Errors and plumbing.


def test_clear_errors_for_wrong_observations_and_handles():
    store = FrameStore((4, 84, 84), 100)
    with pytest.raises(ValueError, match="dtype uint8, got float32"):
        store.add(np.zeros((2, 4, 84, 84), np.float32))
    with pytest.raises(ValueError, match=r"\(num_lanes, \*\(4, 84, 84\)\), got shape \(2, 84, 84, 4\)"):
        store.add(np.zeros((2, 84, 84, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\(num_lanes, \*\(4, 84, 84\)\), got shape \(4, 84, 84\)"):
        store.add(np.zeros((4, 84, 84), np.uint8))  # One observation without its lane axis.
    store.add(np.zeros((2, 4, 84, 84), np.uint8))
    with pytest.raises(ValueError, match="expected observations for 2 lanes, got 3"):
        store.add(np.zeros((3, 4, 84, 84), np.uint8))
    with pytest.raises(ValueError, match="lanes must be distinct integers in \\[0, 2\\)"):
        store.add(np.zeros((1, 4, 84, 84), np.uint8), lanes=[2])
    with pytest.raises(ValueError, match="integer handles, got shape \\(2,\\) and dtype float64"):
        store.stacks(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="at least the stack size 4"):
        FrameStore((4, 84, 84), 3)
    with pytest.raises(ValueError, match="multiple of frame_channels=3"):
        FrameStore((4, 84, 84), 30, frame_channels=3)


def test_insert_without_handles_says_to_give_the_adder_the_store():
    spec = env_spec()
    replay = FrameStackReplay.uniform(spec, 10, 1, 1)
    adder = NStepTransitionAdder(replay, 1, GAMMA)  # Forgot observation_store=replay.store.
    stream = fake_stream(0, 1, 20, mean_length=2)
    with pytest.raises(ValueError, match="observation_store=replay.store"):
        feed(stream, adder)
    with pytest.raises(ValueError, match="observation_store must have an add"):
        NStepTransitionAdder(replay, 1, GAMMA, observation_store=object())


def test_adder_adds_each_timestep_once_for_all_lanes():
    spec, num_lanes = env_spec(), 3
    replay = FrameStackReplay.uniform(spec, 100, num_lanes, 2)
    calls = []
    store_add = replay.store.add

    def counting_add(observations, lanes=None):
        calls.append(len(observations))
        return store_add(observations, lanes)

    replay.store.add = counting_add
    feed(fake_stream(0, num_lanes, 30), NStepTransitionAdder(replay, 2, GAMMA, observation_store=replay.store))
    assert calls == [num_lanes] * 31
    assert replay.inner.save()["storage"][0].dtype == np.int64


def test_save_and_restore_round_trip():
    spec, num_lanes = env_spec(), 2
    replay = FrameStackReplay.uniform(spec, 50, num_lanes, 1, seed=0)
    stream = fake_stream(9, num_lanes, 100)
    adder = NStepTransitionAdder(replay, 1, GAMMA, observation_store=replay.store)
    feed(stream, adder)
    state = replay.save()
    expected = replay.sample(20)
    copy = FrameStackReplay.uniform(spec, 50, num_lanes, 1, seed=123)
    copy.restore(state)
    replay.restore(state)
    for got, want in ((copy.sample(20), expected), (replay.sample(20), expected)):
        for name in Transition._fields[:-1]:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert copy.size() == replay.size() and copy.rate_limiter is None
