"""Atari lanes on ale-py's native vector environment (C++ threads), with our semantics.

`AleVectorBatchedEnvironment` steps N Atari games through
`ale_py.vector_env.AtariVectorEnv` (one C++ thread pool, preprocessing in C++)
and maps its gymnasium-style (obs, reward, terminated, truncated, info) onto
the `BatchedEnvironment` contract and on `AtariEnvironment`'s semantics:

* ALE runs with `autoreset_mode='NextStep'`: the step after a lane's
  terminated/truncated step resets that lane, ignores its action and returns
  the reset observation. We report that step as FIRST (reward 0, discount 1).
* ALE runs with `episodic_life=False` and `reward_clipping=False`; both are done
  here, vectorised with numpy. A lost life (`info['lives']` fell, game not over)
  is LAST with discount 0 when `config.episodic_life`. The lane's next step is
  FIRST *without* resetting the game: that step plays FIRE (if
  `config.fire_reset` and the game has FIRE, else NOOP) in place of the agent's
  action, and its observation is the lane's current frame stack. Its raw reward
  counts toward the raw score only (as in AtariEnvironment's press-on reset).
  If that step ends the game (never seen in practice) the lane is reset at once
  with ALE's masked reset and the FIRST carries the new game's observation.
* Game over (terminated) -> LAST, discount 0; `max_episode_frames` reached
  (ALE's truncated; ALE counts raw frames) -> LAST, discount 1.
* Rewards are clipped to their sign when `config.clip_rewards`. The unclipped
  score of the current game is tracked per lane; right after a LAST that ended
  a game, `episode_info(lane)` returns {'raw_score': score}, else {}.
* With `episodic_life=False` and `fire_reset`, the action after a lost life is
  replaced by FIRE (AtariEnvironment serves inside the losing step instead, one
  agent step earlier).

Asynchronous batches: with `batch_size` < `num_lanes`, ALE steps the lanes on
its threads and hands back whichever `batch_size` lanes finish first. Use
`async_reset()` -> (lane ids, TimeStep), then alternate `send(actions for those
lanes)` and `recv()` -> (lane ids, TimeStep). Each lane's own sequence is the
same as in synchronous mode (same seeds, same actions, same timesteps); only
the order lanes come back in differs, so per-lane consumers (adders, actors with
per-lane state) must index by lane id. `reset()`/`step()` serve synchronous
mode only; the `EnvironmentLoop` uses synchronous mode.

Known differences from `AtariEnvironment` (same specs, different pixels/RNG):
ALE resizes and converts to grayscale in C++ (not cv2 INTER_AREA); at a real
reset the frame stack is zero-padded (ALE) rather than filled with the first
frame; ALE draws its no-op count itself (its own RNG, possibly 0..noop_max
rather than 1..noop_max); ALE's fire reset is one FIRE frame-skip step inside
the reset. `crop` is not supported (ValueError; use backend 'sync' or
'subprocess'). Lane i is seeded with `seed + i` at the first reset.
"""

from __future__ import annotations

import dm_env
import numpy as np
from ale_py import Action, LoggerMode, ALEInterface
from dm_env import specs

from environments.atari import (DISCOUNT_SPEC, REWARD_SPEC, AtariConfig, action_spec_for,
                                observation_spec_for, resolve_game)
from environments.auto_reset import FIRST, end_of_episode
from environments.batched import BatchedEnvironment

# Per-lane modes.
_RUNNING, _PRESS_ON, _AUTORESET, _DEAD_START, _RESETTING = 0, 1, 2, 3, 4
_INT32_MAX = int(np.iinfo(np.int32).max)


def _unsupported(option: str, value, why: str) -> ValueError:
    return ValueError(
        f"AtariConfig.{option}={value!r} is not supported by the ale_vector backend ({why}); "
        "use environment backend 'sync' or 'subprocess' (AtariEnvironment lanes) instead."
    )


def _in_lane_order(lanes: np.ndarray, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
    """Rows sorted by lane id (ALE reports a full batch in lane order; this makes sure)."""
    if np.array_equal(lanes, np.arange(len(lanes))):
        return timestep
    order = np.argsort(lanes)
    return dm_env.TimeStep(*(np.asarray(field)[order] for field in timestep))


class AleVectorBatchedEnvironment(BatchedEnvironment):
    """`num_lanes` games of `game` on ale-py's AtariVectorEnv, with AtariEnvironment's semantics."""

    def __init__(self, game: str, num_lanes: int, config: AtariConfig = AtariConfig(), seed: int = 0,
                 num_threads: int = 0, batch_size: int = 0) -> None:
        if not isinstance(config, AtariConfig):
            raise ValueError(f"config must be an AtariConfig, got {type(config).__name__}.")
        if isinstance(num_lanes, bool) or not isinstance(num_lanes, (int, np.integer)) or num_lanes < 1:
            raise ValueError(f"num_lanes must be an integer >= 1, got {num_lanes!r}.")
        if config.crop is not None:
            raise _unsupported("crop", config.crop, "ALE's vector env resizes the whole 210x160 screen")
        from ale_py.vector_env import AtariVectorEnv

        self._game = resolve_game(game)
        self._config = config
        self._n = n = int(num_lanes)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 0 <= batch_size <= n:
            raise ValueError(f"batch_size must be an integer in [0, num_lanes={n}] (0 = all lanes, synchronous), "
                             f"got {batch_size!r}.")
        self._batch_size = int(batch_size) or n
        self._seed = int(seed)
        ALEInterface.setLoggerMode(LoggerMode.Error)
        self._env = AtariVectorEnv(
            self._game,
            n,
            batch_size=self._batch_size,
            num_threads=int(num_threads),
            max_num_frames_per_episode=_INT32_MAX if config.max_episode_frames is None else int(config.max_episode_frames),
            repeat_action_probability=float(config.sticky_action_probability),
            full_action_space=config.full_action_space,
            autoreset_mode="NextStep",
            img_height=config.screen_size,
            img_width=config.screen_size,
            grayscale=config.grayscale,
            stack_num=config.frame_stack,
            frameskip=int(config.frame_skip),
            maxpool=config.frame_skip > 1,
            noop_max=int(config.noop_max),
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            use_fire_reset=config.fire_reset,
        )
        self._closed = False
        actions = list(self._env.ale.get_action_set())
        self._num_actions = len(actions)
        self._has_fire = Action.FIRE in actions
        self._fire = actions.index(Action.FIRE) if self._has_fire else 0
        self._noop = actions.index(Action.NOOP) if Action.NOOP in actions else 0
        self._press_action = self._fire if (config.fire_reset and self._has_fire) else self._noop
        self._serve = config.fire_reset and self._has_fire and not config.episodic_life

        self._observation_spec = observation_spec_for(config)
        self._started = False
        self._mode = np.zeros(n, np.int8)
        self._lives = np.zeros(n, np.int32)
        self._score = np.zeros(n, np.float64)
        self._ended_score = np.zeros(n, np.float64)
        self._game_ended = np.zeros(n, bool)
        self._serve_next = np.zeros(n, bool)
        self._all_lanes = np.arange(n)
        self._pending: np.ndarray | None = None  # Lanes of the batch awaiting actions (async).
        self._in_flight: bool | None = None  # Actions sent, batch not yet received.

    # dm_env.Environment.

    def reset(self) -> dm_env.TimeStep:
        """Starts a new game in every lane (lane i seeded seed + i the first time)."""
        self._check_synchronous("reset", "async_reset")
        lanes, timestep = self.async_reset()
        self._pending = None
        return _in_lane_order(lanes, timestep)

    def step(self, action) -> dm_env.TimeStep:
        """Steps every lane; a lane after its LAST restarts (action ignored) and reports FIRST."""
        self._check_synchronous("step", "send() and recv()")
        actions = self._check_actions(action, self._n)
        if not self._started:
            return self.reset()
        self._send(actions, self._all_lanes)
        return _in_lane_order(*self._receive())

    # Asynchronous batches (batch_size < num_lanes).

    def async_reset(self) -> tuple[np.ndarray, dm_env.TimeStep]:
        """Starts a new game in every lane; returns the first ready batch: (lane ids, all-FIRST TimeStep)."""
        self._check_open()
        obs, info = self._env.reset(seed=None if self._started else self._seed)
        self._started = True
        self._mode[:] = _RESETTING  # Lanes not in this batch report their reset through recv().
        self._score[:] = 0.0
        self._game_ended[:] = False
        self._serve_next[:] = False
        lanes = np.asarray(info["env_id"], np.int64)
        self._mode[lanes] = _RUNNING
        self._lives[lanes] = info["lives"]
        self._pending = lanes
        b = len(lanes)
        return lanes, dm_env.TimeStep(np.full(b, dm_env.StepType.FIRST, np.int8), np.zeros(b, np.float32),
                                      np.ones(b, np.float32), self._observation(obs))

    def send(self, action) -> None:
        """Acts in the lanes of the last batch received (from `async_reset` or `recv`), without waiting."""
        self._check_open()
        if self._pending is None:
            raise RuntimeError("send() needs a batch to answer: call async_reset() (then recv()) first.")
        self._send(self._check_actions(action, len(self._pending)), self._pending)
        self._pending = None

    def recv(self) -> tuple[np.ndarray, dm_env.TimeStep]:
        """Waits for the next `batch_size` lanes to finish their step: (lane ids, their TimeStep)."""
        self._check_open()
        if self._in_flight is None:
            raise RuntimeError("recv() has nothing to wait for: send() actions first.")
        if self._pending is not None:
            raise RuntimeError("Answer the last batch with send() before calling recv() again.")
        lanes, timestep = self._receive()
        self._pending = lanes
        return lanes, timestep

    def _send(self, actions: np.ndarray, lanes: np.ndarray) -> None:
        mode = self._mode[lanes]
        actions = np.where(mode == _PRESS_ON, self._press_action, actions).astype(np.int32)
        if self._serve:
            actions[self._serve_next[lanes]] = self._fire
        self._env.send(actions)
        self._in_flight = True

    def _receive(self) -> tuple[np.ndarray, dm_env.TimeStep]:
        """Maps ALE's batch (for the lanes in info['env_id']) onto our per-lane semantics."""
        obs, raw_reward, terminated, truncated, info = self._env.recv()
        self._in_flight = None
        lanes = np.asarray(info["env_id"], np.int64)
        lives = np.asarray(info["lives"], np.int32)
        raw_reward = np.asarray(raw_reward, np.float64)
        mode = self._mode[lanes]
        press_on = mode == _PRESS_ON
        first = press_on | (mode == _AUTORESET) | (mode == _RESETTING)
        b = len(lanes)

        # Raw score: a lane reset by ALE on this step starts from 0.
        score = np.where(mode == _AUTORESET, 0.0, self._score[lanes]) + raw_reward
        game_end = terminated | truncated

        dead_start = press_on & game_end
        after_dead_start = mode == _DEAD_START
        if dead_start.any():  # The press-on step ended the game (never seen in practice).
            if self._batch_size == self._n:  # Start a new game right away (ALE's masked reset).
                obs = np.array(obs)
                mask = np.zeros(self._n, bool)
                mask[lanes[dead_start]] = True
                new_obs, new_info = self._env.reset(options={"reset_mask": mask})
                obs[dead_start] = new_obs[lanes[dead_start]]
                lives[dead_start] = np.asarray(new_info["lives"])[lanes[dead_start]]
                score[dead_start] = 0.0
                dead_start[:] = False
            # Asynchronous batches cannot reset one lane: ALE resets it on its next step, which
            # this lane reports as MID (reward 0) of the episode this FIRST begins.

        running = ~first & ~after_dead_start
        game_end &= running
        life_lost = running & ~game_end & (lives < self._lives[lanes])
        self._lives[lanes] = lives
        if self._serve:
            self._serve_next[lanes] = life_lost
        # A lost life ends an episode (discount 0) under episodic_life; auto_reset's rule maps the flags.
        last = game_end | life_lost if self._config.episodic_life else game_end
        ended = (running & terminated) | (life_lost if self._config.episodic_life else False)
        step_type, discount = end_of_episode(ended, last & ~ended)

        reward = np.sign(raw_reward) if self._config.clip_rewards else raw_reward
        reward = np.where(first | after_dead_start, 0.0, reward).astype(np.float32)
        score[after_dead_start] = 0.0

        self._score[lanes] = score
        self._ended_score[lanes[game_end]] = score[game_end]
        self._game_ended[lanes] = game_end
        new_mode = np.zeros(b, np.int8)
        new_mode[last & ~game_end] = _PRESS_ON
        new_mode[game_end] = _AUTORESET
        new_mode[dead_start] = _DEAD_START
        self._mode[lanes] = new_mode

        step_type = np.where(first, FIRST, step_type).astype(np.int8)
        return lanes, dm_env.TimeStep(step_type, reward, discount.astype(np.float32), self._observation(obs))

    def observation_spec(self) -> specs.BoundedArray:
        return self._observation_spec

    def action_spec(self) -> specs.DiscreteArray:
        return action_spec_for(self._num_actions)

    def reward_spec(self) -> specs.Array:
        return REWARD_SPEC

    def discount_spec(self) -> specs.BoundedArray:
        return DISCOUNT_SPEC

    # BatchedEnvironment.

    @property
    def num_lanes(self) -> int:
        return self._n

    def episode_info(self, lane: int) -> dict[str, float]:
        """After a LAST that ended the game in `lane`: {'raw_score': unclipped game score}; else {}."""
        return {"raw_score": float(self._ended_score[lane])} if self._game_ended[lane] else {}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._env, "close", None)
        if callable(close):
            close()
        self._env = None

    # Inspection.

    @property
    def lives(self) -> np.ndarray:
        """Lives left in each lane's current game (as of the last step)."""
        return self._lives.copy()

    # Helpers.

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("AleVectorBatchedEnvironment is closed.")

    def _check_synchronous(self, method: str, instead: str) -> None:
        self._check_open()
        if self._batch_size != self._n:
            raise RuntimeError(f"{method}() steps all lanes together, but this environment runs asynchronous "
                               f"batches of {self._batch_size} of its {self._n} lanes: use {instead}.")

    def _check_actions(self, action, count: int) -> np.ndarray:
        actions = np.asarray(action)
        if actions.shape != (count,) or not (np.issubdtype(actions.dtype, np.integer)
                                               or (actions.size and np.all(actions == np.round(actions)))):
            raise ValueError(f"Expected a batch of {count} integer actions (one per lane), got {action!r}.")
        actions = actions.astype(np.int64)
        if actions.min() < 0 or actions.max() >= self._num_actions:
            raise ValueError(f"Actions {action!r} out of range: {self._game} has {self._num_actions} actions "
                             f"(0..{self._num_actions - 1}).")
        return actions

    def _observation(self, obs: np.ndarray) -> np.ndarray:
        if self._config.grayscale:
            return np.array(obs, dtype=np.uint8, copy=True)
        n, stack, h, w, c = obs.shape  # RGB: (N, stack, H, W, 3) -> (N, stack * 3, H, W).
        return np.ascontiguousarray(obs.transpose(0, 1, 4, 2, 3)).reshape(n, stack * c, h, w)
