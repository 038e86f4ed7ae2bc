"""The sequence adder: overlapping fixed-length sequences of each lane's episode, with the core state
each began in (what R2D2-style recurrent learners replay)."""

from __future__ import annotations

from typing import Any, NamedTuple

import dm_env
import numpy as np

from components.core import Adder, Replay
from components.types import SequenceItem
from environments import nests

FIRST, LAST = int(dm_env.StepType.FIRST), int(dm_env.StepType.LAST)


class _Step(NamedTuple):
    observation: Any
    step_type: int
    action: Any
    reward: float
    discount: float
    core_state: np.ndarray


class SequenceAdder(Adder):
    """Writes every lane's steps as `SequenceItem`s of `length` steps, a new one starting every `period`.

    Per lane: once `length` steps are held, they are written with the next observation as bootstrap,
    and the oldest `period` are dropped, so consecutive sequences share `length - period` steps. At
    an episode's LAST the held steps are written once more if any of them has not been written yet,
    padded to `length` (mask 0), so every step is in at least one sequence and no sequence crosses an
    episode boundary. A sequence's core state is the one the policy reported (`extras['core_state']`,
    the state before the step) at its first step. All lanes' sequences ready on a step go to the
    replay in one insert.
    """

    def __init__(self, replay: Replay, length: int, period: int) -> None:
        if int(length) != length or length < 1:
            raise ValueError(f"SequenceAdder length must be a positive integer, got {length!r}.")
        if int(period) != period or not 1 <= period <= length:
            raise ValueError(f"SequenceAdder period must be an integer in [1, length={length}], got {period!r}.")
        self._replay, self._length, self._period = replay, int(length), int(period)
        self.reset()

    def reset(self) -> None:
        self._held: list[list[_Step]] = []
        self._unwritten: list[int] = []  # Held steps of each lane not in any sequence yet.
        self._observation: list[Any] = []  # Each lane's latest observation and its step type.
        self._step_type: list[int] = []

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        num_lanes = len(timestep.step_type)
        self._held = [[] for _ in range(num_lanes)]
        self._unwritten = [0] * num_lanes
        self._observation = [nests.map_structure(lambda x: x[i], timestep.observation) for i in range(num_lanes)]
        self._step_type = [int(s) for s in timestep.step_type]

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        if not self._held:
            raise RuntimeError("SequenceAdder.add called before add_first.")
        step_types = [int(s) for s in next_timestep.step_type]
        if len(step_types) != len(self._held):
            raise ValueError(f"SequenceAdder was started with {len(self._held)} lanes but got a timestep with "
                             f"{len(step_types)}; call add_first again after changing lanes.")
        if not isinstance(extras, dict) or "core_state" not in extras:
            raise ValueError("SequenceAdder needs the policy's extras['core_state'] (the recurrent state before "
                             f"each step, (num_lanes, state_size)); got extras {_describe(extras)}.")
        core_state = np.asarray(extras["core_state"], dtype=np.float32)
        written: list[SequenceItem] = []
        for i, step_type in enumerate(step_types):
            observation = nests.map_structure(lambda x: x[i], next_timestep.observation)
            if step_type == FIRST:  # A new episode: the action was ignored, and nothing is held.
                self._observation[i], self._step_type[i] = observation, step_type
                continue
            held = self._held[i]
            held.append(_Step(self._observation[i], self._step_type[i], nests.map_structure(lambda x: x[i], action),
                              float(next_timestep.reward[i]), float(next_timestep.discount[i]), core_state[i]))
            self._unwritten[i] += 1
            self._observation[i], self._step_type[i] = observation, step_type
            if step_type == LAST:
                if self._unwritten[i]:
                    written.append(self._sequence(held, observation, step_type))
                held.clear()
                self._unwritten[i] = 0
            elif len(held) == self._length:
                written.append(self._sequence(held, observation, step_type))
                del held[:self._period]
                self._unwritten[i] = 0
        if written:
            self._replay.insert(nests.map_structure(lambda *xs: np.stack(xs), *written))

    def _sequence(self, steps: list[_Step], bootstrap: Any, bootstrap_type: int) -> SequenceItem:
        """The held steps and the bootstrap observation, zero-padded to `length` steps."""
        count, pad = len(steps), self._length - len(steps)

        def padded(values: list[Any], extra: int) -> Any:
            def leaf(*xs: Any) -> np.ndarray:
                stacked = np.stack(xs)
                return np.concatenate([stacked, np.zeros((extra, *stacked.shape[1:]), stacked.dtype)])
            return nests.map_structure(leaf, *values)

        step_type = np.full(self._length + 1, LAST, np.int8)
        step_type[:count] = [s.step_type for s in steps]
        step_type[count] = bootstrap_type
        mask = np.zeros(self._length, np.float32)
        mask[:count] = 1.0
        return SequenceItem(
            observation=padded([s.observation for s in steps] + [bootstrap], pad),
            action=padded([s.action for s in steps], pad),
            reward=np.pad(np.array([s.reward for s in steps], np.float32), (0, pad)),
            discount=np.pad(np.array([s.discount for s in steps], np.float32), (0, pad)),
            step_type=step_type, mask=mask, core_state=steps[0].core_state)


def _describe(extras: Any) -> str:
    return f"with keys {sorted(extras)}" if isinstance(extras, dict) else repr(type(extras).__name__)
