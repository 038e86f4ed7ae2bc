"""Adders: turn each lane's stream of timesteps into replay items."""

from __future__ import annotations

import collections
from typing import Any, Deque, NamedTuple

import dm_env
import numpy as np
import tree

from components.core import Adder, Replay
from components.types import Trajectory, Transition
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

    With an `observation_store` (a `components.frame_store.FrameStore`, e.g.
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


# On-policy adders: per-lane sequences of steps for policy-gradient learners.


FIRST, MID, LAST = dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST


def _check_lanes(adder: str, name: str, nest: Any, num_lanes: int) -> None:
    """Raises unless every leaf of `nest` has a leading lane axis of `num_lanes`."""
    if type(nest) is dict:  # The usual extras: a flat dict of arrays (no tree walk on every step).
        leaves = list(nest.values())
        if any(type(leaf) is not np.ndarray for leaf in leaves):
            leaves = tree.flatten(nest)
    else:
        leaves = [nest] if type(nest) is np.ndarray or not tree.is_nested(nest) else tree.flatten(nest)
    for leaf in leaves:
        if np.shape(leaf)[:1] != (num_lanes,):
            raise ValueError(f"{adder}.add: every leaf of {name} needs a leading lane axis of {num_lanes}, "
                             f"got a leaf of shape {np.shape(leaf)}.")


def _stack_time(steps: list[Any]) -> Any:
    """Per-step batched nests (N, ...) as one nest of (N, len(steps), ...) arrays."""
    return nests.map_structure(lambda *xs: np.stack(xs, axis=1), *steps)


def _gather_lane(steps: list[Any], lane: int) -> Any:
    """One lane of per-step batched nests as a single-item batch (1, len(steps), ...)."""
    return nests.map_structure(lambda *xs: np.stack([x[lane] for x in xs])[None], *steps)


class _LockstepAdder(Adder):
    """Checks shared by the on-policy adders: add_first before add, a fixed lane count, lane semantics.

    Lane semantics: a lane reports FIRST exactly on the step after its LAST
    (that step's action was ignored); returns and masks computed by learners
    rely on it, so a stream that breaks it is an error, not silently stored.
    """

    def __init__(self, replay: Replay) -> None:
        self._replay = replay
        self._step_type: np.ndarray | None = None  # Every lane's latest step type.

    def reset(self) -> None:
        self._step_type = None
        self._clear()

    def _clear(self) -> None:
        """Drops what the adder holds of the current sequences; subclasses clear their own state too.

        Entry k of the step lists is one batched step; actions[k] was chosen at observations[k].
        """
        self._observations: list[Any] = []
        self._actions: list[Any] = []
        self._rewards: list[np.ndarray] = []
        self._discounts: list[np.ndarray] = []
        self._extras: list[Any] = []

    def _start(self, timestep: dm_env.TimeStep) -> np.ndarray:
        """Checks an add_first's timestep (every lane FIRST), starts new sequences at its observation;
        returns its step types."""
        step_type = np.asarray(timestep.step_type, dtype=np.int8)
        if step_type.ndim != 1 or len(step_type) == 0:
            raise ValueError(f"{type(self).__name__}.add_first expects a batched timestep with step_type of "
                             f"shape (num_lanes,), got shape {step_type.shape}.")
        if not np.all(step_type == FIRST):
            raise ValueError(f"{type(self).__name__}.add_first expects every lane to be FIRST, "
                             f"got step types {step_type.tolist()}.")
        self._step_type = step_type
        self._clear()
        self._observations.append(timestep.observation)
        return step_type

    def _next(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any) -> np.ndarray:
        """Checks one step and appends it (rewards 0 where a lane restarts); returns its int8 step types."""
        name = type(self).__name__
        if self._step_type is None:
            raise RuntimeError(f"{name}.add called before add_first (or after reset).")
        step_type = np.asarray(next_timestep.step_type, dtype=np.int8)
        num_lanes = len(self._step_type)
        if step_type.shape != (num_lanes,):
            raise ValueError(f"{name} was started with {num_lanes} lanes but got a timestep with step_type "
                             f"of shape {step_type.shape}; call add_first again after changing lanes.")
        _check_lanes(name, "action", action, num_lanes)
        _check_lanes(name, "extras", extras, num_lanes)
        restarts = step_type == FIRST
        ended = self._step_type == LAST
        if (restarts != ended).any():
            lane = int(np.flatnonzero(restarts != ended)[0])
            raise ValueError(f"{name}: lane {lane} went from step type {int(self._step_type[lane])} to "
                             f"{int(step_type[lane])}; a lane must be FIRST ({int(FIRST)}) exactly on the step "
                             f"after its LAST ({int(LAST)}).")
        self._step_type = step_type
        reward = np.asarray(next_timestep.reward)
        if restarts.any():  # Batched envs report 0 already; make it so whatever the source.
            reward = np.where(restarts, np.zeros((), reward.dtype), reward)
        self._actions.append(action)
        self._rewards.append(reward)
        self._discounts.append(np.asarray(next_timestep.discount))
        self._extras.append(extras)
        self._observations.append(next_timestep.observation)
        return step_type


class TrajectoryAdder(_LockstepAdder):
    """Writes every lane's steps as fixed-length `Trajectory` items of `length` (T) steps.

    Per lane, an item holds o_0..o_T (T+1 observations and step types) and
    a_t, r_{t+1}, d_{t+1}, extras_t for t < T; o_T is the bootstrap observation
    and also o_0 of that lane's next item, so consecutive items overlap by one
    observation and every step appears once as (o_t, a_t) with t < T.
    Episodes do not cut items: a LAST/FIRST pair inside the window stays, with
    its step types, for the learner to mask (`components.transforms.trajectory_masks`).

    Lanes step in lockstep, so all N lanes complete an item on the same step
    and are inserted with one `replay.insert` of a `Trajectory` whose leaves are
    (N, T+1, ...) / (N, T, ...). Steps are kept as batched arrays and stacked
    along the time axis only when an item is written. If the insert raises
    (e.g. a full `OnPolicyQueue`), that batch of items is dropped and the next
    item starts at its bootstrap observation as usual.
    """

    def __init__(self, replay: Replay, length: int) -> None:
        if int(length) != length or length < 1:
            raise ValueError(f"TrajectoryAdder length must be a positive integer, got {length!r}.")
        super().__init__(replay)
        self._length = int(length)
        self._clear()

    @property
    def length(self) -> int:
        return self._length

    def _clear(self) -> None:
        super()._clear()
        self._step_types: list[np.ndarray] = []

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        step_type = self._start(timestep)  # Clears the step lists: append after it.
        self._step_types.append(step_type)

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        self._step_types.append(self._next(action, next_timestep, extras))
        if len(self._actions) == self._length:
            self._write()

    def _write(self) -> None:
        item = Trajectory(
            observation=_stack_time(self._observations),
            action=_stack_time(self._actions),
            reward=np.stack(self._rewards, axis=1),
            discount=np.stack(self._discounts, axis=1),
            step_type=np.stack(self._step_types, axis=1),
            extras=_stack_time(self._extras),
        )
        bootstrap, bootstrap_type = self._observations[-1], self._step_types[-1]
        self._clear()  # Before inserting, so a failed insert leaves a consistent adder.
        self._observations.append(bootstrap)
        self._step_types.append(bootstrap_type)
        self._replay.insert(item)


class EpisodeAdder(_LockstepAdder):
    """Writes every finished episode of every lane as one `Trajectory` item (for REINFORCE-style learners).

    An episode of L steps becomes observation (L+1, ...) from its FIRST to its
    LAST observation, step_type (L+1,) with step_type[0] = FIRST and
    step_type[L] = LAST, and action/reward/discount/extras (L, ...). Each is
    inserted on its own as a single-item batch (1, L+1, ...): lengths differ,
    so the replay must not preallocate (use `OnPolicyQueue`). Unfinished
    episodes are never written. Steps are kept as batched arrays until the
    oldest running episode ends; `max_length`, when set, bounds that memory by
    raising as soon as an episode grows beyond it.
    """

    def __init__(self, replay: Replay, max_length: int | None = None) -> None:
        if max_length is not None and (int(max_length) != max_length or max_length < 1):
            raise ValueError(f"EpisodeAdder max_length must be a positive integer or None, got {max_length!r}.")
        super().__init__(replay)
        self._max_length = None if max_length is None else int(max_length)
        self._clear()

    def _clear(self) -> None:
        super()._clear()
        self._base = 0  # Absolute step index of entry 0 of the step lists.
        self._now = 0  # Absolute index of the latest observation.
        self._starts = np.zeros(0, dtype=np.int64)  # Absolute index of each lane's FIRST observation.

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        self._starts = np.zeros(len(self._start(timestep)), dtype=np.int64)

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        step_type = self._next(action, next_timestep, extras)
        self._now += 1
        self._starts[step_type == FIRST] = self._now
        if self._max_length is not None:
            lengths = self._now - self._starts
            if lengths.max() > self._max_length:
                lane = int(np.argmax(lengths))
                raise ValueError(f"EpisodeAdder: lane {lane}'s episode is {int(lengths[lane])} steps long, more "
                                 f"than max_length={self._max_length}; raise max_length or use TrajectoryAdder.")
        for lane in np.flatnonzero(step_type == LAST).tolist():
            self._write(lane)
        oldest = int(self._starts.min())
        if oldest > self._base:  # Nothing before the oldest running episode is needed again.
            drop = oldest - self._base
            for steps in (self._observations, self._actions, self._rewards, self._discounts, self._extras):
                del steps[:drop]
            self._base = oldest

    def _write(self, lane: int) -> None:
        start, end = int(self._starts[lane]) - self._base, self._now - self._base
        length = end - start
        step_type = np.full((1, length + 1), MID, dtype=np.int8)
        step_type[0, 0], step_type[0, -1] = FIRST, LAST
        self._replay.insert(Trajectory(
            observation=_gather_lane(self._observations[start:end + 1], lane),
            action=_gather_lane(self._actions[start:end], lane),
            reward=np.stack([r[lane] for r in self._rewards[start:end]])[None],
            discount=np.stack([d[lane] for d in self._discounts[start:end]])[None],
            step_type=step_type,
            extras=_gather_lane(self._extras[start:end], lane),
        ))
