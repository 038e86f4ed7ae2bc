"""Adders: turn each lane's stream of timesteps into replay items."""

from __future__ import annotations

import collections
from typing import Any, Deque, NamedTuple

import dm_env
import numpy as np


from components.core import Adder, Replay
from components.types import Transition
from environments import nests


class _Step(NamedTuple):
    observation: Any
    action: Any
    reward: float
    discount: float
    extras: Any


def _lane(nest: Any, i: int) -> Any:
    return nests.map_structure(lambda x: x[i], nest)


def _stack(values: list[Any]) -> Any:
    """Stacks a list of same-structured nests on a new leading axis."""
    return nests.map_structure(lambda *xs: np.stack(xs), *values)


class NStepTransitionAdder(Adder):
    """Writes per-lane n-step transitions `(s_t, a_t, R_t^(n), D_t^(n), s_{t+n})`.

    With environment discounts d and agent discount gamma (`discount`):
        R = r_{t+1} + gamma d_{t+1} r_{t+2} + ... (m <= n rewards)
        D = prod_{k<m} gamma d_{t+k+1}
    so a termination (d = 0) zeroes D while a truncation (LAST with d > 0)
    keeps the bootstrap. At a lane's LAST, the shorter transitions that start
    inside the last n steps are written too, so every step is written once.

    With an `observation_store` (a `components.frame_replay.FrameStore`, e.g.
    `FrameStackReplay.store`), every timestep's observations go to the store in
    one batched `add`, and transitions carry the int64 handles it returns in
    place of observations.
    """

    def __init__(self, replay: Replay, n_step: int, discount: float, observation_store: Any = None) -> None:
        if observation_store is not None and not callable(getattr(observation_store, "add", None)):
            raise ValueError(f"observation_store must have an add(observations) method (a FrameStore), "
                             f"got {type(observation_store).__name__}.")
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}.")
        if not 0.0 <= discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {discount}.")
        self._replay = replay
        self._n = n_step
        self._gamma = discount
        self._store = observation_store
        self._windows: list[Deque[_Step]] = []
        self._observations: list[Any] = []

    def reset(self) -> None:
        self._windows = []
        self._observations = []

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        num_lanes = len(timestep.step_type)
        self._windows = [collections.deque() for _ in range(num_lanes)]
        if self._store is not None:
            self._observations = list(self._store.add(timestep.observation))
        else:
            self._observations = [_lane(timestep.observation, i) for i in range(num_lanes)]

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        if not self._windows:
            raise RuntimeError("NStepTransitionAdder.add called before add_first.")
        step_types = next_timestep.step_type.tolist()
        if len(step_types) != len(self._windows):
            raise ValueError(
                f"Adder was started with {len(self._windows)} lanes but got a timestep "
                f"with {len(step_types)}; call add_first again after changing lanes."
            )
        written: list[Transition] = []
        has_extras = not (isinstance(extras, tuple) and not extras)
        handles = self._store.add(next_timestep.observation) if self._store is not None else None
        for i, step_type in enumerate(step_types):
            observation = _lane(next_timestep.observation, i) if handles is None else handles[i]
            window = self._windows[i]
            if step_type == dm_env.StepType.FIRST:  # A new episode: the action was ignored.
                window.clear()
                self._observations[i] = observation
                continue
            window.append(_Step(self._observations[i], _lane(action, i),
                                float(next_timestep.reward[i]), float(next_timestep.discount[i]),
                                _lane(extras, i) if has_extras else ()))
            self._observations[i] = observation
            if step_type == dm_env.StepType.LAST:
                while window:
                    written.append(self._transition(window, observation))
                    window.popleft()
            elif len(window) == self._n:
                written.append(self._transition(window, observation))
                window.popleft()
        if written:
            *fields, extras_field = zip(*written)
            self._replay.insert(Transition(*map(_stack, fields), _stack(extras_field) if has_extras else ()))

    def _transition(self, window: Deque[_Step], next_observation: Any) -> Transition:
        total, bootstrap = 0.0, 1.0
        for step in window:
            total += bootstrap * step.reward
            bootstrap *= self._gamma * step.discount
        first = window[0]
        return Transition(first.observation, first.action, np.float32(total),
                          np.float32(bootstrap), next_observation, first.extras)
