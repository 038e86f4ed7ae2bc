"""minatar:<game>: MinAtar's grids as uint8 channels-first images, seeded, sticky, batched on every backend."""

from __future__ import annotations

import dm_env
import numpy as np
import pytest

from environments.registry import make_batched_environment, make_environment
from tests.support import assert_identical_timesteps


def _play(env: dm_env.Environment, actions: np.ndarray) -> list[dm_env.TimeStep]:
    timesteps = [env.reset()]
    for action in actions:
        timesteps.append(env.step(action))
    return timesteps


@pytest.mark.parametrize("game, channels", [("breakout", 4), ("space_invaders", 6), ("asterix", 4),
                                            ("freeway", 7), ("seaquest", 10)])
def test_each_game_is_a_bounded_uint8_grid_with_the_full_action_set(game, channels):
    env = make_environment(f"minatar:{game}", seed=0)
    spec = env.observation_spec()
    assert (spec.shape, spec.dtype, int(spec.minimum), int(spec.maximum)) == ((channels, 10, 10), np.uint8, 0, 1)
    assert env.action_spec().num_values == 6
    timestep = env.reset()
    assert timestep.first() and timestep.observation.dtype == np.uint8 and timestep.observation.max() == 1
    assert env.render().shape == (160, 160, 3)


def test_the_seed_fixes_the_game_and_its_sticky_actions():
    actions = np.random.default_rng(0).integers(0, 6, 300)
    runs = [_play(make_environment("minatar:space_invaders", seed=seed), actions) for seed in (7, 7, 8)]
    for a, b in zip(runs[0], runs[1]):
        assert_identical_timesteps(a, b)
    assert any(not np.array_equal(a.observation, b.observation) for a, b in zip(runs[0], runs[2]))


def test_sticky_actions_repeat_the_previous_action():
    """With probability 1 every action repeats the first one taken (MinAtar starts from no-op 0)."""
    moving = _play(make_environment("minatar:breakout", seed=0, sticky_action_prob=0.0), np.full(5, 1))
    stuck = _play(make_environment("minatar:breakout", seed=0, sticky_action_prob=1.0), np.full(5, 1))
    paddle = 0  # Breakout's channel 0 is the paddle.
    assert not np.array_equal(moving[-1].observation[paddle], moving[0].observation[paddle])
    assert np.array_equal(stuck[-1].observation[paddle], stuck[0].observation[paddle])


def test_episodes_end_in_termination_and_the_step_limit_truncates():
    env = make_environment("minatar:breakout", seed=0)
    timestep = env.reset()
    while not timestep.last():
        timestep = env.step(0)
    assert timestep.discount == 0.0 and env.step(0).first()
    limited = make_environment("minatar:freeway", seed=0, max_episode_steps=5)
    steps = _play(limited, np.zeros(5, np.int64))
    assert [t.step_type for t in steps] == [dm_env.StepType.FIRST] + [dm_env.StepType.MID] * 4 + [
        dm_env.StepType.LAST]
    assert steps[-1].discount == 1.0


@pytest.mark.parametrize("backend", ["sync", "subprocess"])
def test_batched_lanes_equal_the_single_games(backend):
    lanes = make_batched_environment("minatar:asterix", 2, seed=3, backend=backend)
    singles = [make_environment("minatar:asterix", seed=3 + lane) for lane in range(2)]
    actions = np.random.default_rng(1).integers(0, 6, (40, 2))
    batch = lanes.reset()
    expected = [single.reset() for single in singles]
    for step in range(41):
        for lane, single in enumerate(expected):
            np.testing.assert_array_equal(batch.observation[lane], single.observation)
            assert float(batch.reward[lane] if batch.reward is not None else 0.0) == float(single.reward or 0.0)
        if step == 40:
            break
        batch = lanes.step(actions[step].astype(lanes.action_spec().dtype))
        expected = [single.step(actions[step][lane]) for lane, single in enumerate(singles)]
    lanes.close()


def test_bad_names_and_options_say_what_exists():
    with pytest.raises(ValueError, match="expected one of asterix, breakout, freeway, seaquest, space_invaders"):
        make_environment("minatar:pong")
    with pytest.raises(ValueError, match="takes the options sticky_action_prob"):
        make_environment("minatar:breakout", frameskip=4)
    with pytest.raises(ValueError, match=r"sticky_action_prob must be in \[0, 1\]"):
        make_environment("minatar:breakout", sticky_action_prob=2.0)
    with pytest.raises(ValueError, match="max_episode_steps must be >= 1"):
        make_environment("minatar:breakout", max_episode_steps=0)
