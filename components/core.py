"""The contracts every component satisfies: actors, adders, replay, learners.

Everything is batch-first: an actor sees a batch of observations (one row per
environment lane) and returns a batch of actions, so a plain environment is a
batch of one and a vector of N environments needs no other code path.
"""

from __future__ import annotations

import abc
import inspect
import itertools
from typing import Any, Generic, Iterator, Mapping, Sequence, TypeVar

import dm_env

Nest = Any  # A dm-tree nest of numpy arrays (or torch tensors inside learners).
T = TypeVar("T")


class RunStopped(Exception):
    """Raised inside a node (a thread, a process) to leave its loop once the run is stopping."""


class Actor(abc.ABC):
    """Selects actions for a batch of lanes and observes what they lead to."""

    @abc.abstractmethod
    def select_action(self, observation: Nest) -> Any:
        """Returns actions for a batch of observations (leading axis = lanes)."""

    @abc.abstractmethod
    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        """Records the first (reset) timestep of every lane."""

    @abc.abstractmethod
    def observe(self, action: Any, next_timestep: dm_env.TimeStep) -> None:
        """Records the actions taken and the batched timestep they produced."""

    @abc.abstractmethod
    def update(self, wait: bool = False) -> None:
        """Refreshes the actor's variables from its source if it is due."""


class Adder(abc.ABC):
    """Turns a stream of batched timesteps into replay items, per lane."""

    @abc.abstractmethod
    def add_first(self, timestep: dm_env.TimeStep) -> None:
        """Starts an episode in every lane."""

    @abc.abstractmethod
    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Nest = ()) -> None:
        """Records one step of every lane; lanes whose step is FIRST restart."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Drops any partial sequence (e.g. before a new run)."""

    def flush(self) -> bool:
        """Hands on what the adder buffers (an adder forwarding to another process); False once the run
        is stopping. Adders that write at once have nothing to do."""
        return True


class Replay(abc.ABC, Generic[T]):
    """Holds items and hands out batches of them."""

    @abc.abstractmethod
    def insert(self, items: T) -> None:
        """Inserts a batch of items (leading axis = number of items)."""

    @abc.abstractmethod
    def sample(self, batch_size: int) -> T:
        """Returns a batch of items."""

    @abc.abstractmethod
    def size(self) -> int:
        """How many items are held now."""

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """How many items fit before the oldest are overwritten."""

    def schedule_state(self) -> Mapping[str, Any]:
        """What a resumed run keeps of this replay when its items are not checkpointed (e.g. a
        prioritized replay's largest priority, which new items get); nothing by default."""
        return {}

    def restore_schedule_state(self, state: Mapping[str, Any]) -> None:
        """Restores what `schedule_state` returned."""

    def for_lanes(self, first_lane: int, num_lanes: int) -> "Replay[T]":
        """The view one actor of several writes through, lanes `first_lane`..: itself, unless the replay
        keeps per-lane state (a frame replay does)."""
        return self

    def describe(self) -> str:
        """Capacity (and memory, where known), for the start-up log."""
        return f"{type(self).__name__}: capacity {self.capacity:,} items."


class VariableSource(abc.ABC):
    """Something that serves (copies of) network weights by name."""

    @abc.abstractmethod
    def get_variables(self, names: Sequence[str]) -> list[Mapping[str, Any]]:
        """Returns one state dict per requested name."""


class Saveable(abc.ABC):
    """Something whose state can be saved and restored exactly."""

    @abc.abstractmethod
    def save(self) -> Mapping[str, Any]:
        """Returns the full state as a picklable nest."""

    @abc.abstractmethod
    def restore(self, state: Mapping[str, Any]) -> None:
        """Restores the state returned by `save`."""


def save_replay(replay: Any, copy: bool = True) -> Mapping[str, Any]:
    """`replay.save()`, asking for its live arrays rather than copies (`copy=False`) when its `save` takes
    `copy`: for a caller that writes the state out before anything inserts again."""
    if not copy and "copy" in inspect.signature(replay.save).parameters:
        return replay.save(copy=False)
    return replay.save()


class Worker(abc.ABC):
    """A unit of work a runner can start (loop, learner, evaluator)."""

    @abc.abstractmethod
    def run(self) -> None:
        """Runs until told to stop or until its budget is spent."""


class Learner(VariableSource, Worker, Saveable):
    """Consumes batches, updates networks, and serves the new weights."""

    @abc.abstractmethod
    def step(self) -> Mapping[str, float]:
        """Performs one update and returns its diagnostics."""

    def run(self, num_steps: int | None = None) -> None:
        """Runs `step` `num_steps` times, or forever when None."""
        iterator = range(num_steps) if num_steps is not None else itertools.count()
        for _ in iterator:
            self.step()


def batch_iterator(replay: Replay[T], batch_size: int) -> Iterator[T]:
    """An endless iterator of batches sampled from `replay`."""
    while True:
        yield replay.sample(batch_size)
