"""Frame replay of a dict observation's stacked entry, and which specs frame replay picks by itself."""

from __future__ import annotations

import numpy as np
import pytest
from dm_env import specs

from components.adders import NStepTransitionAdder
from components.frame_replay import WHOLE, FrameStackReplay, frame_replay_key
from components.replay import UniformReplay
from components.specs import EnvironmentSpec
from components.types import Transition, transition_spec
from environments.spec_checks import FRAME_STACK
from tests.components.test_frame_replay import GAMMA, fake_stream, feed, generous_frames

STACK = specs.BoundedArray((4, 5, 3), np.uint8, 0, 255, FRAME_STACK)


def dict_spec() -> EnvironmentSpec:
    return EnvironmentSpec(
        observations={"frames": STACK, "speed": specs.Array((2,), np.float32, "speed")},
        actions=specs.Array((), np.int64, "action"),
        rewards=specs.Array((), np.float32, "reward"),
        discounts=specs.Array((), np.float32, "discount"),
    )


def dict_stream(seed: int, num_lanes: int, num_steps: int):
    """fake_stream's stacks as the 'frames' entry, beside a 'speed' vector that differs every step."""
    for step, (actions, timestep) in enumerate(fake_stream(seed, num_lanes, num_steps)):
        speed = np.stack([np.arange(num_lanes, dtype=np.float32) + step, -np.ones(num_lanes, np.float32)], -1)
        yield actions, timestep._replace(observation={"frames": timestep.observation, "speed": speed})


@pytest.mark.parametrize("n_step", [1, 3])
def test_a_dict_with_a_stacked_entry_samples_what_the_plain_replay_does(n_step):
    num_lanes, capacity, spec = 3, 200, dict_spec()
    key = frame_replay_key("auto", spec.observations)
    assert key == "frames"
    plain = UniformReplay(transition_spec(spec), capacity, seed=5)
    frames = FrameStackReplay.uniform(spec, capacity, num_lanes, n_step, seed=5, frame_key=key,
                                      capacity_frames=generous_frames(capacity, num_lanes, 4, n_step))
    feed(dict_stream(2, num_lanes, 300), NStepTransitionAdder(plain, n_step, GAMMA),
         NStepTransitionAdder(frames, n_step, GAMMA, observation_store=frames.store))
    assert frames.size() == plain.size() == capacity
    for batch_size in (1, 32):
        got, expected = frames.sample(batch_size), plain.sample(batch_size)
        for name in Transition._fields[:-1]:
            got_value, want_value = getattr(got, name), getattr(expected, name)
            if isinstance(want_value, dict):
                assert sorted(got_value) == sorted(want_value)
                for entry in want_value:
                    assert got_value[entry].dtype == want_value[entry].dtype
                    np.testing.assert_array_equal(got_value[entry], want_value[entry], err_msg=f"{name}.{entry}")
            else:
                np.testing.assert_array_equal(got_value, want_value, err_msg=name)
    assert "'frames' entries" in frames.describe()


def test_auto_picks_only_specs_named_frame_stacks_and_on_takes_any_uint8_stack():
    grid = specs.BoundedArray((4, 10, 10), np.uint8, 0, 1, "observation")  # MinAtar's channels: not a stack.
    assert frame_replay_key("auto", STACK) == WHOLE
    assert frame_replay_key("auto", grid) is None
    assert frame_replay_key("on", grid) == WHOLE
    assert frame_replay_key("off", STACK) is None
    assert frame_replay_key("auto", {"image": grid, "speed": specs.Array((2,), np.float32)}) is None
    assert frame_replay_key("on", {"image": grid, "speed": specs.Array((2,), np.float32)}) == "image"
    with pytest.raises(ValueError, match=r"one stacked-frame entry .* found \['a', 'b'\]"):
        frame_replay_key("on", {"a": grid, "b": grid})
    with pytest.raises(ValueError, match="frame_replay=on needs stacked frames .*float32"):
        frame_replay_key("on", specs.Array((4,), np.float32))


def test_observations_that_are_not_shifted_stacks_earn_a_warning(capsys):
    """Every observation a keyframe: the ring of about capacity frames keeps a quarter of the items."""
    spec = EnvironmentSpec(specs.Array((4, 2, 2), np.uint8), specs.Array((), np.int64), specs.Array((), np.float32),
                           specs.Array((), np.float32))
    replay = FrameStackReplay.uniform(spec, 400, 1, 1, seed=0)
    adder = NStepTransitionAdder(replay, 1, GAMMA, observation_store=replay.store)
    rng = np.random.default_rng(0)
    for actions, timestep in fake_stream(0, 1, 1_000, stack_shape=(4, 2, 2), mean_length=1e9):
        timestep = timestep._replace(observation=rng.integers(0, 255, (1, 4, 2, 2)).astype(np.uint8))
        if actions is None:
            adder.add_first(timestep)
        else:
            adder.add(actions, timestep)
    for _ in range(400):
        replay.sample(32)
    assert replay.redrawn_items > 0
    assert "use --frame_replay=off" in capsys.readouterr().out
