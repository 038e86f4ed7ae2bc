"""MinAtar games as `minatar:<game>` (breakout, space_invaders, asterix, freeway, seaquest): a dm_env.

MinAtar (Young & Tian 2019) shrinks five Atari games to a 10x10 grid with one boolean channel per kind
of object. Here each game is its own dm_env, with no gymnasium in between: the observation is the grid
as uint8 channels-first (C, 10, 10), bounded 0..1 (so the default torso takes it as an image), and the
actions are the full set of 6 as in the paper (`minimal_action_set=True` gives the game's own subset).

Published defaults are kept: sticky actions with probability 0.1 (the previous action repeats) and
difficulty ramping on. Options (`--env_options`): `sticky_action_prob`, `difficulty_ramping`,
`minimal_action_set`, and `max_episode_steps` (none by default, as in the paper; when set, an episode
that reaches it ends as a truncation: LAST with discount 1). The seed goes to the game's random state,
which draws both its randomness and the sticky actions.

Needs the `minatar` extra (`pip install "agentpipe[minatar]"`).
"""

from __future__ import annotations

import pkgutil

import dm_env
import numpy as np
from dm_env import specs

_PIXELS_PER_CELL = 16


def _minatar():
    try:
        import minatar
        import minatar.environments
    except ImportError as error:
        raise ValueError(f"minatar:<game> needs MinAtar: pip install \"agentpipe[minatar]\" ({error}).") from None
    return minatar


def known_games() -> tuple[str, ...]:
    """The games the installed MinAtar ships."""
    package = _minatar().environments
    return tuple(sorted(module.name for module in pkgutil.iter_modules(package.__path__)))


class MinAtarEnvironment(dm_env.Environment):
    """One MinAtar game: (C, 10, 10) uint8 observations, discrete actions, optional episode step limit."""

    def __init__(self, game: str, seed: int = 0, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True,
                 minimal_action_set: bool = False, max_episode_steps: int | None = None) -> None:
        games = known_games()
        if game not in games:
            raise ValueError(f"Unknown MinAtar game {game!r} in minatar:{game}; expected one of "
                             f"{', '.join(games)} (e.g. minatar:breakout).")
        if not 0.0 <= float(sticky_action_prob) <= 1.0:
            raise ValueError(f"sticky_action_prob must be in [0, 1], got {sticky_action_prob}.")
        if max_episode_steps is not None and int(max_episode_steps) < 1:
            raise ValueError(f"max_episode_steps must be >= 1 (or unset), got {max_episode_steps}.")
        self._game = _minatar().Environment(game, sticky_action_prob=float(sticky_action_prob),
                                            difficulty_ramping=bool(difficulty_ramping))
        self._game.seed(int(seed))
        self._name = game
        full = list(range(self._game.num_actions()))
        self._actions = np.asarray(self._game.minimal_action_set() if minimal_action_set else full, np.int64)
        self._max_steps = None if max_episode_steps is None else int(max_episode_steps)
        height, width, channels = self._game.state_shape()
        self._shape = (channels, height, width)
        self._steps = 0
        self._needs_reset = True

    def _observation(self) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(self._game.state(), (2, 0, 1)), dtype=np.uint8)

    def reset(self) -> dm_env.TimeStep:
        self._game.reset()
        self._steps = 0
        self._needs_reset = False
        return dm_env.restart(self._observation())

    def step(self, action) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        reward, terminal = self._game.act(int(self._actions[int(action)]))
        self._steps += 1
        observation = self._observation()
        if terminal:
            self._needs_reset = True
            return dm_env.termination(float(reward), observation)
        if self._max_steps is not None and self._steps >= self._max_steps:
            self._needs_reset = True
            return dm_env.truncation(float(reward), observation)
        return dm_env.transition(float(reward), observation)

    def observation_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray(self._shape, np.uint8, 0, 1, name="observation")

    def action_spec(self) -> specs.DiscreteArray:
        return specs.DiscreteArray(len(self._actions), name="action")

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float64, name="reward")

    def render(self) -> np.ndarray:
        """The grid as an RGB frame: one colour per channel (the highest channel wins), black where empty."""
        state = np.asarray(self._game.state(), bool)
        channels = state.shape[-1]
        hues = np.linspace(0.0, 1.0, channels, endpoint=False)
        palette = np.concatenate([np.zeros((1, 3)), _hue_to_rgb(hues)]) * 255
        index = np.max(state * (np.arange(channels) + 1), axis=-1)
        frame = palette[index].astype(np.uint8)
        return np.repeat(np.repeat(frame, _PIXELS_PER_CELL, axis=0), _PIXELS_PER_CELL, axis=1)


def _hue_to_rgb(hues: np.ndarray) -> np.ndarray:
    """Fully saturated, bright colours for hues in [0, 1)."""
    offsets = np.array([0.0, 2.0 / 3.0, 1.0 / 3.0])
    return np.clip(np.abs((hues[:, None] + offsets) % 1.0 * 6.0 - 3.0) - 1.0, 0.0, 1.0)


def make_minatar(game: str, seed: int = 0, **options) -> MinAtarEnvironment:
    """`minatar:<game>` with the registry's seed and `--env_options`."""
    try:
        return MinAtarEnvironment(game, seed=seed, **options)
    except TypeError as error:
        raise ValueError(f"minatar:{game} takes the options sticky_action_prob, difficulty_ramping, "
                         f"minimal_action_set and max_episode_steps; got {sorted(options)} ({error}).") from None
