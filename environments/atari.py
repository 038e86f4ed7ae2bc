"""Atari 2600 games (Arcade Learning Environment) exposed through `dm_env`.

One class does the whole Nature-DQN preprocessing in a single loop over raw
ALE frames, instead of a tower of gym wrappers: random no-op starts, FIRE on
reset, frame skipping with a max over the last two frames (Atari sprites
flicker), an optional crop, grayscale, resizing, reward clipping, one
training episode per life and a frame stack. Raw game scores are kept on the
side so that agents trained on clipped per-life returns can still be scored
the usual way: full games, every life, unclipped.

Needs the `atari` extra: `pip install "agentpipe[atari]"` (ale-py, opencv).
"""

from __future__ import annotations

import dataclasses
import difflib
import re

import cv2
import dm_env
import numpy as np
from ale_py import Action, ALEInterface, LoggerMode, roms
from dm_env import specs

from environments.spec_checks import FRAME_STACK

# Every ALE game renders a 210 x 160 screen.
SCREEN_HEIGHT, SCREEN_WIDTH = 210, 160
# The crop of the seed-001 (Breakout) preprocessing, as (top, bottom, left,
# right) pixels removed from each edge of the raw screen: the score and the
# top wall (rows 0-31), the empty band below the paddle (rows 196-209) and the
# two side walls (8 columns each). What is left, 164 x 144, is the playfield.
SEED001_CROP = (32, 14, 8, 8)

_NOOP, _FIRE = Action.NOOP, Action.FIRE
_ZERO, _ONE = np.float32(0.0), np.float32(1.0)


@dataclasses.dataclass(frozen=True)
class AtariConfig:
    """How raw ALE frames become observations and rewards; defaults = Nature DQN."""

    noop_max: int = 30
    """At a real reset, press NOOP a uniform 1..noop_max raw frames (0 disables) so
    that starts differ."""
    frame_skip: int = 4
    """Raw frames per agent step, all with the same action; the frame seen is the
    pixel-wise max of the last two (undoes sprite flicker)."""
    episodic_life: bool = True
    """A lost life ends the training episode (LAST, discount 0) while the game goes
    on; the next reset() continues the game, a real reset comes after game over."""
    fire_reset: bool = True
    """Press FIRE (one agent step) after a reset or a lost life, in games whose
    action set has FIRE, so the agent need not learn to serve. A reward earned by
    this FIRE counts toward the raw score only."""
    clip_rewards: bool = True
    """Reward -> its sign (-1, 0, 1), so one learning rate fits every game."""
    grayscale: bool = True
    """One luminance channel per frame (ALE's own conversion); False keeps RGB."""
    screen_size: int = 84
    """Frames are resized (cv2 INTER_AREA) to screen_size x screen_size."""
    crop: tuple[int, int, int, int] | None = None
    """(top, bottom, left, right) pixels cut from each edge before resizing, or None."""
    frame_stack: int = 4
    """Number of most recent frames in an observation, oldest first."""
    sticky_action_probability: float = 0.0
    """ALE's repeat_action_probability: each raw frame repeats the previous action
    with this probability (0.25 in the "v5" protocol)."""
    full_action_space: bool = False
    """All 18 joystick actions instead of the game's minimal set."""
    max_episode_frames: int | None = 108_000
    """Raw frames per game (no-ops included) before it is cut: LAST with discount 1.
    None: no limit. 108,000 frames are 30 minutes at 60 Hz."""

    def __post_init__(self) -> None:
        for name in ("episodic_life", "fire_reset", "clip_rewards", "grayscale", "full_action_space"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}.")
        for name, low in (("noop_max", 0), ("frame_skip", 1), ("screen_size", 1), ("frame_stack", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        limit = self.max_episode_frames
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
            raise ValueError(f"max_episode_frames must be a positive integer or None, got {limit!r}.")
        p = self.sticky_action_probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"sticky_action_probability must be a number in [0, 1], got {p!r}.")
        if self.crop is not None:
            crop = tuple(self.crop)
            if len(crop) != 4 or not all(isinstance(c, (int, np.integer)) and c >= 0 for c in crop):
                raise ValueError(
                    f"crop must be None or four non-negative ints (top, bottom, left, right), got {self.crop!r}."
                )
            if crop[0] + crop[1] >= SCREEN_HEIGHT or crop[2] + crop[3] >= SCREEN_WIDTH:
                raise ValueError(
                    f"crop {crop} leaves nothing of the {SCREEN_HEIGHT}x{SCREEN_WIDTH} screen."
                )
            object.__setattr__(self, "crop", crop)

    @classmethod
    def seed001(cls, **overrides) -> AtariConfig:
        """Seed 001's Breakout variant: playfield crop, grayscale 64 x 64 frames."""
        return cls(**{"crop": SEED001_CROP, "screen_size": 64, **overrides})


REWARD_SPEC = specs.Array((), np.float32, "reward")
DISCOUNT_SPEC = specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")


def observation_spec_for(config: AtariConfig) -> specs.BoundedArray:
    """The stacked-frame observation spec of `config`, shared by every Atari backend."""
    channels = 1 if config.grayscale else 3
    shape = (config.frame_stack * channels, config.screen_size, config.screen_size)
    return specs.BoundedArray(shape, np.uint8, 0, 255, FRAME_STACK)


def action_spec_for(num_actions: int) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_actions, dtype=np.int32, name="action")


def clip_reward(reward: float) -> float:
    """The sign of `reward`: -1.0, 0.0 or 1.0."""
    return float(np.sign(reward))


def max_pool(previous: np.ndarray, latest: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Pixel-wise max of two raw frames (objects drawn on alternate frames show up)."""
    return np.maximum(previous, latest, out=out)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def resolve_game(game: str) -> str:
    """ALE's rom id for `game` ('SpaceInvaders', 'space_invaders', 'spaceinvaders')."""
    rom_ids = roms.get_all_rom_ids()
    by_key = {rom_id.replace("_", ""): rom_id for rom_id in rom_ids}
    rom_id = by_key.get(str(game).replace("_", "").replace("-", "").lower())
    if rom_id is None:
        close = difflib.get_close_matches(_camel_to_snake(str(game)), rom_ids, n=5, cutoff=0.6)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        raise ValueError(f"Unknown Atari game {game!r} ({len(rom_ids)} ALE roms are installed).{hint}")
    return rom_id


class AtariEnvironment(dm_env.Environment):
    """One Atari game, preprocessed as `config` says, as a dm_env environment.

    Observations are uint8, channels first: (frame_stack, S, S) in grayscale or
    (frame_stack * 3, S, S) in RGB (channels of a frame adjacent), oldest frame
    first. Actions index the game's minimal action set (or all 18).
    """

    def __init__(self, game: str, config: AtariConfig = AtariConfig(), seed: int = 0) -> None:
        """Loads the rom; `seed` drives ALE (sticky actions) and the no-op starts."""
        if not isinstance(config, AtariConfig):
            raise ValueError(f"config must be an AtariConfig, got {type(config).__name__}.")
        self._game = resolve_game(game)
        self._config = config
        ALEInterface.setLoggerMode(LoggerMode.Error)
        self._ale = ale = ALEInterface()
        ale.setInt("random_seed", int(seed) % 2**31)
        ale.setFloat("repeat_action_probability", float(config.sticky_action_probability))
        ale.loadROM(roms.get_rom_path(self._game))
        self._actions = list(ale.getLegalActionSet() if config.full_action_space else ale.getMinimalActionSet())
        self._has_fire = _FIRE in self._actions
        self._rng = np.random.default_rng(seed)

        height, width = ale.getScreenDims()
        top, bottom, left, right = config.crop or (0, 0, 0, 0)
        if top + bottom >= height or left + right >= width:
            raise ValueError(f"crop {config.crop} leaves nothing of the {height}x{width} screen of {self._game}.")
        self._window = (slice(top, height - bottom), slice(left, width - right))
        raw_shape = (height, width) if config.grayscale else (height, width, 3)
        self._grab = ale.getScreenGrayscale if config.grayscale else ale.getScreenRGB
        self._raw = (np.zeros(raw_shape, np.uint8), np.zeros(raw_shape, np.uint8))
        self._pooled = np.zeros(raw_shape, np.uint8)
        self._channels = 1 if config.grayscale else 3
        self._observation_spec = observation_spec_for(config)
        self._stack = np.zeros(self._observation_spec.shape, np.uint8)
        self._limit = config.max_episode_frames or np.iinfo(np.int64).max

        self._needs_reset = True  # The next step() is a reset().
        self._press_on = False  # The next reset() continues the game (after a lost life).
        self._lives = 0
        self._frames = 0  # Raw frames in the current game.
        self._raw_score = 0.0
        self._last_game_raw_score: float | None = None
        self._game_ended = False  # Did the latest LAST end the game (not just a life)?

    # dm_env.Environment.

    def reset(self) -> dm_env.TimeStep:
        """Starts a new game (no-ops, FIRE); after a life-loss LAST it presses on instead."""
        ale, config = self._ale, self._config
        if not self._press_on:
            ale.reset_game()
            self._frames, self._raw_score = 0, 0.0
            for _ in range(int(self._rng.integers(1, config.noop_max + 1)) if config.noop_max else 0):
                self._raw_score += ale.act(_NOOP)
                self._frames += 1
                if ale.game_over():
                    ale.reset_game()
        if config.fire_reset and self._has_fire:
            self._repeat(_FIRE)
            if ale.game_over():  # Not seen in practice; start over rather than hand out a dead game.
                self._press_on = False
                return self.reset()
        else:  # Use the screen as it is (after the no-ops or the lost life).
            self._grab(self._raw[1])
            self._raw[0][...] = self._raw[1]
        self._lives = ale.lives()
        frame = self._process()
        for i in range(self._config.frame_stack):
            self._stack[i * self._channels:(i + 1) * self._channels] = frame
        self._needs_reset = self._press_on = self._game_ended = False
        return dm_env.TimeStep(dm_env.StepType.FIRST, None, None, self._stack.copy())

    def step(self, action: int) -> dm_env.TimeStep:
        """Plays `frame_skip` raw frames; after a LAST (or on a fresh env) resets instead."""
        if self._needs_reset:
            return self.reset()
        index = self._check_action(action)
        ale, config = self._ale, self._config
        reward = self._repeat(self._actions[index])
        game_over = ale.game_over()
        lives = ale.lives()
        life_lost = lives < self._lives
        self._lives = lives
        truncated = self._frames >= self._limit
        serve = config.fire_reset and self._has_fire and not config.episodic_life
        if serve and life_lost and not (game_over or truncated):
            reward += self._repeat(_FIRE)  # Serve the next ball within this step.
            game_over, self._lives = ale.game_over(), ale.lives()
            truncated = self._frames >= self._limit
        self._push(self._process())
        if config.clip_rewards:
            reward = clip_reward(reward)
        if game_over or truncated:
            self._last_game_raw_score = self._raw_score
        elif life_lost and config.episodic_life:
            self._press_on = True
        if game_over or (life_lost and config.episodic_life):
            discount = _ZERO
        elif truncated:
            discount = _ONE
        else:
            return dm_env.TimeStep(dm_env.StepType.MID, np.float32(reward), _ONE, self._stack.copy())
        self._needs_reset = True
        self._game_ended = game_over or truncated
        return dm_env.TimeStep(dm_env.StepType.LAST, np.float32(reward), discount, self._stack.copy())

    def observation_spec(self) -> specs.BoundedArray:
        return self._observation_spec

    def action_spec(self) -> specs.DiscreteArray:
        return action_spec_for(len(self._actions))

    def reward_spec(self) -> specs.Array:
        return REWARD_SPEC

    def discount_spec(self) -> specs.BoundedArray:
        return DISCOUNT_SPEC

    # Hot path.

    def _check_action(self, action: int) -> int:
        try:
            index = int(action)
        except (TypeError, ValueError) as error:
            raise ValueError(f"action must be an integer, got {action!r}.") from error
        if not 0 <= index < len(self._actions) or index != action:
            raise ValueError(
                f"action {action!r} is out of range: {self._game} has {len(self._actions)} actions "
                f"(0..{len(self._actions) - 1})."
            )
        return index

    def _repeat(self, ale_action: Action) -> float:
        """Plays `ale_action` for up to frame_skip raw frames; keeps the last two screens.

        Stops early at game over or at the frame limit; the raw reward is summed
        into the game's score and returned.
        """
        ale, skip, raw = self._ale, self._config.frame_skip, self._raw
        reward = 0.0
        for i in range(skip):
            reward += ale.act(ale_action)
            self._frames += 1
            if i == skip - 2:
                self._grab(raw[0])
            if ale.game_over() or self._frames >= self._limit:
                break
        self._grab(raw[1])
        if i != skip - 1 or skip == 1:  # Fewer than two screens of this step: no pooling.
            raw[0][...] = raw[1]
        self._raw_score += reward
        return reward

    def _process(self) -> np.ndarray:
        """Max-pools the last two screens, crops and resizes: (C, S, S) uint8."""
        pooled = max_pool(self._raw[0], self._raw[1], out=self._pooled)[self._window]
        size = self._config.screen_size
        frame = cv2.resize(pooled, (size, size), interpolation=cv2.INTER_AREA)
        return frame[None] if frame.ndim == 2 else frame.transpose(2, 0, 1)

    def _push(self, frame: np.ndarray) -> None:
        channels = self._channels
        self._stack[:-channels] = self._stack[channels:]
        self._stack[-channels:] = frame

    # Inspection.

    def render(self) -> np.ndarray:
        """The current raw RGB screen, (210, 160, 3) uint8 (for videos, not the agent's input)."""
        return self._ale.getScreenRGB()

    @property
    def game(self) -> str:
        """ALE's rom id of the game, e.g. 'space_invaders'."""
        return self._game

    @property
    def config(self) -> AtariConfig:
        return self._config

    @property
    def action_names(self) -> list[str]:
        """ALE's name of each action index, e.g. ['NOOP', 'FIRE', 'RIGHT', 'LEFT']."""
        return [action.name for action in self._actions]

    @property
    def lives(self) -> int:
        """Lives left in the current game."""
        return int(self._ale.lives())

    @property
    def frame_number(self) -> int:
        """Raw frames played in the current game, no-ops and FIREs included."""
        return self._frames

    @property
    def episode_raw_score(self) -> float:
        """Unclipped score of the current game, over all its lives (kept after it ends)."""
        return self._raw_score

    @property
    def last_game_raw_score(self) -> float | None:
        """Unclipped score of the last finished (game over or cut) game; None before any."""
        return self._last_game_raw_score

    def episode_info(self) -> dict[str, float]:
        """Asked for after a LAST: the game's raw score as `raw_score` when that LAST ended the game."""
        return {"raw_score": self._last_game_raw_score} if self._game_ended else {}


def make_atari(game: str, seed: int = 0, evaluation: bool = False, **overrides) -> AtariEnvironment:
    """Nature-DQN `game`; evaluation=True plays whole games, unclipped (how scores are reported).

    `overrides` are AtariConfig fields, e.g. make_atari('Pong', sticky_action_probability=0.25).
    """
    fields = {"episodic_life": False, "clip_rewards": False} if evaluation else {}
    return AtariEnvironment(game, AtariConfig(**{**fields, **overrides}), seed=seed)
