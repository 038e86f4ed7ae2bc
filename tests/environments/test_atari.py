"""Tests for the ALE Atari environment and its Nature-DQN preprocessing."""

from __future__ import annotations

import cv2
import dm_env
import numpy as np
import pytest
from absl.testing import absltest
from ale_py import ALEInterface, LoggerMode, roms
from dm_env import specs, test_utils

from environments.atari import (
    SEED001_CROP,
    AtariConfig,
    AtariEnvironment,
    clip_reward,
    make_atari,
    max_pool,
    resolve_game,
)

NOOP, FIRE = 0, 1  # Indices in Breakout's and Pong's minimal action sets.
# No random starts, no FIRE, no life episodes: the env follows a bare ALE step for step.
PLAIN = dict(noop_max=0, fire_reset=False, episodic_life=False, clip_rewards=False)


def raw_ale(game: str, seed: int = 0) -> tuple[ALEInterface, list]:
    """A bare ALE set up as AtariEnvironment sets up its own (no sticky actions)."""
    ALEInterface.setLoggerMode(LoggerMode.Error)
    ale = ALEInterface()
    ale.setInt("random_seed", seed)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(roms.get_rom_path(game))
    ale.reset_game()
    return ale, ale.getMinimalActionSet()


def resize(frame: np.ndarray, size: int = 84) -> np.ndarray:
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def play(env: AtariEnvironment, actions) -> list[dm_env.TimeStep]:
    return [env.step(action) for action in actions]


# ----------------------------------------------------------------------------
# dm_env conformance.
# ----------------------------------------------------------------------------


class _ReachesLastMixin(test_utils.EnvironmentTestMixin):
    """NOOPs after the automatic FIRE: Breakout's ball is lost within ~25 steps."""

    def make_action_sequence(self):
        for _ in range(60):
            yield np.int32(NOOP)

    def test_action_sequence_reaches_last(self):
        self.environment.reset()
        steps = play(self.environment, self.make_action_sequence())
        self.assertTrue(any(step.last() for step in steps))


class BreakoutTrainingConformanceTest(_ReachesLastMixin, absltest.TestCase):
    def make_object_under_test(self):
        return AtariEnvironment("Breakout", AtariConfig(max_episode_frames=400), seed=0)


class BreakoutSeed001ConformanceTest(_ReachesLastMixin, absltest.TestCase):
    def make_object_under_test(self):
        return AtariEnvironment("Breakout", AtariConfig.seed001(max_episode_frames=400), seed=1)


# ----------------------------------------------------------------------------
# Specs and observations.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, shape",
    [
        (AtariConfig(), (4, 84, 84)),
        (AtariConfig.seed001(), (4, 64, 64)),
        (AtariConfig(grayscale=False), (12, 84, 84)),
        (AtariConfig(frame_stack=1, screen_size=42), (1, 42, 42)),
    ],
)
def test_observation_shape_dtype_and_specs(config: AtariConfig, shape: tuple[int, ...]) -> None:
    env = AtariEnvironment("Breakout", config)
    assert env.observation_spec() == specs.BoundedArray(shape, np.uint8, 0, 255, "observation")
    assert env.action_spec() == specs.DiscreteArray(4, np.int32, name="action")
    assert env.reward_spec() == specs.Array((), np.float32, "reward")
    assert env.discount_spec() == specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")
    for timestep in [env.reset(), env.step(np.int32(FIRE))]:
        assert timestep.observation.shape == shape and timestep.observation.dtype == np.uint8
        env.observation_spec().validate(timestep.observation)
    assert timestep.reward.dtype == np.float32 and timestep.discount.dtype == np.float32


def test_seed001_preset_and_crop_constant() -> None:
    config = AtariConfig.seed001()
    assert config.crop == SEED001_CROP and config.screen_size == 64 and config.grayscale
    top, bottom, left, right = SEED001_CROP
    # The crop removes Breakout's score (drawn in rows 5-14) and keeps the paddle (rows 189-192).
    assert top > 14 and 210 - bottom > 192 and left + right < 160


def test_full_action_space_and_action_names() -> None:
    assert AtariEnvironment("Pong", AtariConfig(full_action_space=True)).action_spec().num_values == 18
    env = AtariEnvironment("Breakout")
    assert env.action_names == ["NOOP", "FIRE", "RIGHT", "LEFT"]


def test_frame_stack_after_reset_and_steps() -> None:
    env = AtariEnvironment("Breakout", AtariConfig(**PLAIN))
    first = env.reset().observation
    assert all(np.array_equal(first[i], first[0]) for i in range(4))
    previous = first
    for action in [FIRE, NOOP, NOOP, NOOP, NOOP, NOOP]:
        observation = env.step(action).observation
        np.testing.assert_array_equal(observation[:-1], previous[1:])  # Shifted by one.
        previous = observation
    assert not np.array_equal(observation[-1], first[0])  # The ball is in play by now.


def test_observation_is_resized_max_of_last_two_raw_frames() -> None:
    env = AtariEnvironment("Breakout", AtariConfig(**PLAIN), seed=0)
    ale, actions = raw_ale("breakout", seed=0)
    np.testing.assert_array_equal(env.reset().observation[-1], resize(ale.getScreenGrayscale()))
    pooling_mattered = 0
    for action in [FIRE] + [NOOP, 2, 2, 3, NOOP] * 3:
        screens = []
        for _ in range(4):
            ale.act(actions[action])
            screens.append(ale.getScreenGrayscale())
        expected = resize(np.maximum(screens[-2], screens[-1]))
        np.testing.assert_array_equal(env.step(action).observation[-1], expected)
        pooling_mattered += not np.array_equal(expected, resize(screens[-1]))
    assert pooling_mattered >= 5  # The moving ball shows up twice in many pooled frames.


def test_max_pool_helper() -> None:
    a = np.array([[0, 9], [5, 1]], np.uint8)
    b = np.array([[3, 2], [5, 7]], np.uint8)
    np.testing.assert_array_equal(max_pool(a, b), [[3, 9], [5, 7]])
    out = np.empty_like(a)
    assert max_pool(a, b, out=out) is out


def test_rgb_and_crop_frames_match_the_raw_screen() -> None:
    rgb = AtariEnvironment("Pong", AtariConfig(grayscale=False, frame_skip=1, **PLAIN))
    rgb.reset()
    for _ in range(70):  # Pong's ball appears after a while.
        observation = rgb.step(NOOP).observation
    np.testing.assert_array_equal(observation[-3:], resize(rgb.render()).transpose(2, 0, 1))
    assert not np.array_equal(observation[-3], observation[-2])  # Real colour channels.

    cropped = AtariEnvironment("Breakout", AtariConfig.seed001(frame_skip=1, **PLAIN))
    ale, _ = raw_ale("breakout")
    top, bottom, left, right = SEED001_CROP
    expected = resize(ale.getScreenGrayscale()[top:210 - bottom, left:160 - right], 64)
    np.testing.assert_array_equal(cropped.reset().observation[-1], expected)
    assert not np.array_equal(expected, resize(ale.getScreenGrayscale(), 64))


def test_render_returns_the_raw_rgb_screen() -> None:
    env = AtariEnvironment("Breakout")
    env.reset()
    before = env.render()
    assert before.shape == (210, 160, 3) and before.dtype == np.uint8
    play(env, [NOOP] * 5)
    assert not np.array_equal(before, env.render())  # The served ball moved.


# ----------------------------------------------------------------------------
# Rewards, lives, episodes.
# ----------------------------------------------------------------------------


def test_clip_reward_is_the_sign() -> None:
    assert [clip_reward(r) for r in (-30.0, -1.0, 0.0, 0.5, 1.0, 200.0)] == [-1, -1, 0, 1, 1, 1]


def test_reward_clipping_on_and_off() -> None:
    clipped = AtariEnvironment("SpaceInvaders", AtariConfig(episodic_life=False), seed=3)
    raw = AtariEnvironment("SpaceInvaders", AtariConfig(episodic_life=False, clip_rewards=False), seed=3)
    clipped.reset(), raw.reset()
    actions = np.random.default_rng(0).integers(6, size=150)
    clipped_rewards, raw_rewards = [], []
    for action in actions:
        clipped_rewards.append(float(clipped.step(action).reward))
        raw_rewards.append(float(raw.step(action).reward))
    assert max(raw_rewards) > 1  # Invaders are worth 5 to 30 points.
    assert clipped_rewards == [float(np.sign(r)) for r in raw_rewards]
    # The raw score is unclipped either way.
    assert clipped.episode_raw_score == raw.episode_raw_score == sum(raw_rewards) > sum(clipped_rewards)


def test_episodic_life_ends_the_episode_and_reset_presses_on() -> None:
    env = AtariEnvironment("Breakout", AtariConfig(), seed=0)
    env.reset()
    assert env.lives == 5 and env.last_game_raw_score is None
    rng = np.random.default_rng(0)
    for _ in range(2000):  # Random play until a life is lost with points on the board.
        timestep = env.step(rng.integers(4))
        if timestep.last() and env.episode_raw_score > 0 and env.lives > 0:
            break
    assert timestep.last() and timestep.discount == 0.0
    lives, score, frames = env.lives, env.episode_raw_score, env.frame_number
    last_game = env.last_game_raw_score  # Earlier games may have ended on the way.
    assert 0 < lives < 5
    first = env.reset()
    assert first.first()
    assert all(np.array_equal(first.observation[i], first.observation[0]) for i in range(4))
    assert env.lives == lives and env.episode_raw_score == score  # Same game goes on.
    assert env.frame_number == frames + 4  # Only the FIRE step: no game reset, no no-ops.
    assert env.last_game_raw_score == last_game  # No game has finished here.
    assert env.step(NOOP).mid()


def test_life_loss_after_reset_via_step_continues_too() -> None:
    env = AtariEnvironment("Breakout", AtariConfig(noop_max=0), seed=0)
    lasts = []
    for _ in range(200):  # Each served ball is lost: one LAST per life.
        timestep = env.step(NOOP)
        if timestep.last():
            lasts.append((env.lives, float(timestep.discount)))
            if env.lives == 0:
                break
    assert lasts == [(4, 0.0), (3, 0.0), (2, 0.0), (1, 0.0), (0, 0.0)]
    assert env.last_game_raw_score == 0.0 and env.frame_number > 400
    assert env.step(NOOP).first() and env.lives == 5  # After game over: a real reset.
    assert env.frame_number == 4  # Just the FIRE step of the new game.


@pytest.mark.parametrize("episodic_life", [True, False])
def test_reset_in_mid_episode_starts_a_new_game(episodic_life: bool) -> None:
    env = AtariEnvironment("Breakout", AtariConfig(noop_max=0, episodic_life=episodic_life))
    env.reset()
    for _ in range(60):  # NOOPs: balls are lost; stop in the middle of an episode.
        if env.step(NOOP).last():
            env.reset()
    while not env.step(NOOP).mid():  # Make sure we stop mid-episode, not at a LAST.
        pass
    assert env.lives < 5 and env.frame_number > 100
    assert env.reset().first()
    assert env.lives == 5 and env.frame_number == 4 and env.episode_raw_score == 0.0


def test_evaluation_mode_plays_one_whole_game() -> None:
    env = make_atari("Breakout", seed=0, evaluation=True)
    assert not env.config.episodic_life and not env.config.clip_rewards
    env.reset()
    rewards, lives_seen = [], {env.lives}
    timestep = env.step(NOOP)
    while not timestep.last():  # Lost balls are served again automatically.
        rewards.append(float(timestep.reward))
        lives_seen.add(env.lives)
        timestep = env.step(NOOP)
        assert len(rewards) < 1000
    rewards.append(float(timestep.reward))
    assert timestep.discount == 0.0 and env.lives == 0
    assert lives_seen == {1, 2, 3, 4, 5}
    assert env.last_game_raw_score == env.episode_raw_score == sum(rewards)


def test_make_atari_overrides() -> None:
    env = make_atari("Pong", seed=2, evaluation=True, clip_rewards=True, frame_stack=2)
    assert env.config.clip_rewards and not env.config.episodic_life and env.config.frame_stack == 2
    assert make_atari("Pong").config == AtariConfig()


@pytest.mark.parametrize("limit", [40, 42])
def test_truncation_at_max_episode_frames(limit: int) -> None:
    env = AtariEnvironment("Pong", AtariConfig(noop_max=0, max_episode_frames=limit))
    env.reset()
    assert env.frame_number == 4  # The FIRE step.
    timesteps = [env.step(NOOP)]
    while not timesteps[-1].last():
        timesteps.append(env.step(NOOP))
    assert len(timesteps) == (limit - 4 + 3) // 4  # Whole 4-frame steps, the last one maybe shorter.
    assert env.frame_number == limit
    assert timesteps[-1].discount == 1.0 and all(ts.mid() for ts in timesteps[:-1])
    assert env.last_game_raw_score == env.episode_raw_score
    assert env.step(NOOP).first()
    assert env.frame_number == 4  # A real reset: the game restarted.


# ----------------------------------------------------------------------------
# Seeding and determinism.
# ----------------------------------------------------------------------------


def test_same_seed_same_trajectory() -> None:
    config = AtariConfig(sticky_action_probability=0.25)
    a, b = AtariEnvironment("Breakout", config, seed=7), AtariEnvironment("Breakout", config, seed=7)
    actions = np.random.default_rng(1).integers(4, size=300)
    for ts_a, ts_b in zip([a.reset()] + play(a, actions), [b.reset()] + play(b, actions)):
        assert ts_a.step_type == ts_b.step_type and ts_a.reward == ts_b.reward
        np.testing.assert_array_equal(ts_a.observation, ts_b.observation)
    assert a.frame_number == b.frame_number


def test_different_seeds_give_different_noop_starts() -> None:
    frames = set()
    for seed in range(6):
        env = AtariEnvironment("Pong", AtariConfig(fire_reset=False), seed=seed)
        env.reset()
        assert 1 <= env.frame_number <= 30
        frames.add(env.frame_number)
    assert len(frames) > 1
    env = AtariEnvironment("Pong", AtariConfig(fire_reset=False, noop_max=0))
    env.reset()
    assert env.frame_number == 0


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rom_id",
    [
        ("Breakout", "breakout"),
        ("breakout", "breakout"),
        ("SpaceInvaders", "space_invaders"),
        ("space_invaders", "space_invaders"),
        ("Pong", "pong"),
        ("MontezumaRevenge", "montezuma_revenge"),
    ],
)
def test_game_names(name: str, rom_id: str) -> None:
    assert resolve_game(name) == rom_id


@pytest.mark.parametrize("name, close", [("Breakoutt", "breakout"), ("SpaceInvader", "space_invaders")])
def test_unknown_game_lists_close_matches(name: str, close: str) -> None:
    with pytest.raises(ValueError, match=f"Unknown Atari game '{name}'.*Close matches: .*{close}"):
        AtariEnvironment(name)


@pytest.mark.parametrize("action", [4, -1, 1.5])
def test_invalid_action(action) -> None:
    env = AtariEnvironment("Breakout")
    env.reset()
    with pytest.raises(ValueError, match=rf"action {action}\b.*4 actions"):
        env.step(action)


@pytest.mark.parametrize(
    "field, value",
    [
        ("noop_max", -1),
        ("frame_skip", 0),
        ("frame_stack", 0),
        ("screen_size", 0),
        ("screen_size", 84.0),
        ("sticky_action_probability", 1.5),
        ("sticky_action_probability", -0.1),
        ("max_episode_frames", 0),
        ("crop", (10, 10, 10)),
        ("crop", (-1, 0, 0, 0)),
        ("crop", (100, 110, 0, 0)),
        ("episodic_life", "yes"),
    ],
)
def test_bad_config_values(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        AtariConfig(**{field: value})


def test_training_loop_logs_the_raw_game_score_only_when_a_game_ends(recording_logger, random_actor):
    """Through the registry and the loop: life losses end training episodes, games end with a raw score."""
    from components.environment_loop import EnvironmentLoop
    from environments.registry import make_environment

    env = make_environment("atari:Breakout", seed=0)
    assert env.observation_spec().shape == (4, 84, 84)
    loop = EnvironmentLoop(env, random_actor(num_actions=4), logger=recording_logger)
    loop.run(num_episodes=5)  # Breakout has 5 lives: the 5th training episode ends the game.
    rows = recording_logger.rows
    scores = [row.get("raw_score") for row in rows]
    assert scores[:4] == [None] * 4
    assert scores[4] is not None and scores[4] >= sum(row["episode_return"] for row in rows)
